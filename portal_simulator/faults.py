"""Faults on request: the failures a real portal shows, injected deterministically.

A :class:`FaultRule` names a ``kind``, the path prefix it targets, and when it fires: the next
``count`` matching calls, a ``rate`` (share 0..1 of matching calls, drawn from an injected
random source), both (each matching call fires with ``rate`` until ``count`` faults were
injected), or neither (every matching call). Rules are looked at in order.

REST kinds (calls to ``/v1/*``; never ``/admin/*``):

- ``latency``: add ``latency_ms`` and go on (adds up with every other rule);
- ``error_500``, ``error_503`` (with ``Retry-After: retry_after_seconds``), ``error_429`` (idem);
- ``error_401``: refuse the call's key, as the portal does once it revoked a key;
- ``timeout``: hold the request ``hang_seconds`` (longer than any client timeout), then 504;
- ``reset``: close the connection without an answer (TCP reset);
- ``corrupt_document``: serve a document whose bytes do not match the sha256 (and size is kept);
- ``cut_document``: send a document's head and ``Content-Length``, then reset the
  connection after ``cut_after_bytes`` of the body (default: half of it);
- ``oversize_document``: send ``extra_bytes`` more than the document has, without a
  ``Content-Length`` (chunked);
- ``redirect``: answer 302 with ``Location: location`` (by default the cloud metadata address).

The first of ``error_*``, ``timeout``, ``reset`` and ``redirect`` that fires answers; with
``phase: after`` the call is handled first and its answer replaced (the work is done, the answer
lost).

Webhook kinds (deliveries to the ATS; ``path_prefix`` matches the ATS URL's path):
``expired_timestamp`` (sign with a timestamp ``timestamp_skew_seconds`` away, default -600) and
``wrong_signature`` (sign with a key the ATS does not hold).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "latency",
    "error_500",
    "error_503",
    "error_429",
    "error_401",
    "timeout",
    "reset",
    "corrupt_document",
    "cut_document",
    "oversize_document",
    "redirect",
    "expired_timestamp",
    "wrong_signature",
]
TERMINAL_KINDS = frozenset(
    {"error_500", "error_503", "error_429", "error_401", "timeout", "reset", "redirect"}
)
DOCUMENT_KINDS = frozenset({"corrupt_document", "cut_document", "oversize_document"})
WEBHOOK_KINDS = frozenset({"expired_timestamp", "wrong_signature"})
_DOCUMENT_CONTENT = re.compile(r"^/v1/documents/[^/]+/content$")


class FaultRule(BaseModel):
    """One fault and when it fires (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    path_prefix: str = "/"
    rate: float | None = Field(default=None, ge=0, le=1)
    count: int | None = Field(default=None, ge=1)
    retry_after_seconds: int = Field(default=1, ge=0)
    latency_ms: int = Field(default=200, ge=0)
    hang_seconds: float = Field(default=30.0, ge=0)
    timestamp_skew_seconds: int = -600
    phase: Literal["before", "after"] = "before"
    cut_after_bytes: int | None = Field(default=None, ge=0)
    extra_bytes: int = Field(default=1024 * 1024, ge=1)
    location: str = "http://169.254.169.254/latest/meta-data/"


class FaultSettings(BaseModel):
    """The body of ``PUT /admin/faults``: the rules in order, and optionally a new seed."""

    model_config = ConfigDict(extra="forbid")

    rules: list[FaultRule] = Field(default_factory=list)
    seed: int | None = None


@dataclass(slots=True)
class _Armed:
    rule: FaultRule
    injected: int = 0

    def exhausted(self) -> bool:
        return self.rule.count is not None and self.injected >= self.rule.count


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """What to do to one REST call."""

    latency_ms: int = 0
    terminal: FaultRule | None = None
    corrupt_document: bool = False
    cut_document: FaultRule | None = None
    oversize_document: FaultRule | None = None
    fired: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookFaults:
    """What to do to one delivery attempt."""

    timestamp_skew_seconds: int = 0
    wrong_signature: bool = False
    fired: tuple[str, ...] = ()


class FaultPlan:
    """The armed rules and the random source that decides rates."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._armed: list[_Armed] = []

    def replace(self, settings: FaultSettings) -> None:
        if settings.seed is not None:
            self._rng.seed(settings.seed)
        self._armed = [_Armed(rule) for rule in settings.rules]

    def add(self, rule: FaultRule) -> None:
        self._armed.append(_Armed(rule))

    def reset(self) -> None:
        self._armed = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "rules": [
                {**armed.rule.model_dump(), "injected": armed.injected, "exhausted": armed.exhausted()}
                for armed in self._armed
            ]
        }

    def _fires(self, armed: _Armed, path: str) -> bool:
        if armed.exhausted() or not path.startswith(armed.rule.path_prefix):
            return False
        if armed.rule.rate is not None and self._rng.random() >= armed.rule.rate:
            return False
        armed.injected += 1
        return True

    def for_request(self, path: str) -> RequestFaults:
        """Decide (and consume) the faults for one REST call to ``path``."""
        latency = 0
        terminal: FaultRule | None = None
        document: dict[str, FaultRule] = {}
        fired: list[str] = []
        is_document = _DOCUMENT_CONTENT.match(path) is not None
        for armed in self._armed:
            kind = armed.rule.kind
            if kind in WEBHOOK_KINDS or (kind in TERMINAL_KINDS and terminal is not None):
                continue
            if kind in DOCUMENT_KINDS and (not is_document or kind in document):
                continue
            if not self._fires(armed, path):
                continue
            fired.append(kind)
            if kind == "latency":
                latency += armed.rule.latency_ms
            elif kind in DOCUMENT_KINDS:
                document[kind] = armed.rule
            else:
                terminal = armed.rule
        return RequestFaults(
            latency,
            terminal,
            "corrupt_document" in document,
            document.get("cut_document"),
            document.get("oversize_document"),
            tuple(fired),
        )

    def for_webhook(self, path: str) -> WebhookFaults:
        """Decide (and consume) the faults for one delivery attempt to an ATS URL with ``path``."""
        skew = 0
        wrong = False
        fired: list[str] = []
        for armed in self._armed:
            kind = armed.rule.kind
            if kind not in WEBHOOK_KINDS or (kind == "wrong_signature" and wrong):
                continue
            if kind == "expired_timestamp" and skew:
                continue
            if not self._fires(armed, path):
                continue
            fired.append(kind)
            if kind == "expired_timestamp":
                skew = armed.rule.timestamp_skew_seconds
            else:
                wrong = True
        return WebhookFaults(skew, wrong, tuple(fired))
