"""One attempt of a ``sync_queue`` row, as values: what the portal's answer means, and what the
row becomes (pure: the dispatcher writes it).

* :data:`AttemptResult`: ``Delivered`` (2xx), ``Unavailable`` (transient: an attempt used),
  ``Refused`` (permanent), ``Deferred`` (no call was made, or our key was refused: no attempt
  used); :func:`classify` maps the portal client's errors onto them;
* :data:`Transition`: ``Complete``, ``RetryAt`` (the schedule of :mod:`shared.outbound.retry`),
  ``Fail``, ``Release``; :func:`decide` chooses one;
* :class:`Claim`: a row a worker holds the lease of; :data:`CALLS`: the portal call of each
  command type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from shared.errors import CircuitOpen, PermanentError, PortalCredentialRejected, TransientError
from shared.outbound.commands import CommandType
from shared.outbound.retry import RandomSource, defer_delay, retry_delay
from shared.portal_client import Created, PortalClient

# --- what an attempt came to ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """The portal took the command (2xx); ``portal_id`` is the id it gave, when it gave one."""

    http_status: int
    portal_id: str | None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A transient failure (408, 429, 5xx, timeout, broken connection): an attempt used."""

    reason: str
    http_status: int | None
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class Refused:
    """A permanent answer (400, 404, 409, 422): the command can never succeed as sent."""

    reason: str
    http_status: int | None


@dataclass(frozen=True, slots=True)
class Deferred:
    """No call was made (breaker open) or our key was refused: waits, no attempt used."""

    reason: str
    not_before: float | None


AttemptResult = Delivered | Unavailable | Refused | Deferred


def classify(error: Exception) -> AttemptResult:
    """The attempt result of an error from the portal client (pure)."""
    if isinstance(error, CircuitOpen | PortalCredentialRejected):
        return Deferred(str(error), error.retry_after)
    if isinstance(error, TransientError):
        return Unavailable(str(error), getattr(error, "status_code", None), error.retry_after)
    if isinstance(error, PermanentError):
        return Refused(str(error), getattr(error, "status_code", None))
    raise error


# --- what the row becomes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complete:
    http_status: int
    portal_id: str | None


@dataclass(frozen=True, slots=True)
class RetryAt:
    retry_count: int
    next_retry: datetime
    error: str
    http_status: int | None


@dataclass(frozen=True, slots=True)
class Release:
    next_retry: datetime
    error: str


@dataclass(frozen=True, slots=True)
class Fail:
    retry_count: int
    error: str
    http_status: int | None
    attempted: bool


Transition = Complete | RetryAt | Release | Fail


def decide(retry_count: int, result: AttemptResult, *, now: datetime, random: RandomSource) -> Transition:
    """What a row whose ``retry_count`` failed attempts came before becomes after ``result``."""
    if isinstance(result, Delivered):
        return Complete(result.http_status, result.portal_id)
    if isinstance(result, Deferred):
        return Release(now + timedelta(seconds=defer_delay(result.not_before)), result.reason)
    failed = retry_count + 1
    if isinstance(result, Refused):
        return Fail(failed, result.reason, result.http_status, attempted=True)
    delay = retry_delay(failed, retry_after=result.retry_after, random=random)
    if delay is None:
        return Fail(
            failed, f"attempt {failed} failed, no attempt left: {result.reason}", result.http_status, True
        )
    return RetryAt(failed, now + timedelta(seconds=delay), result.reason, result.http_status)


# --- the rows a worker holds ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A ``sync_queue`` row this worker holds the lease of, with what it needs to call."""

    id: int
    command_id: UUID
    operation: CommandType
    entity_id: str
    candidate_id: UUID
    payload: Mapping[str, Any]
    retry_count: int
    owner: UUID

    @property
    def body(self) -> Mapping[str, Any]:
        body: Mapping[str, Any] = self.payload["request"]
        return body

    @property
    def portal_candidate_id(self) -> str:
        return str(self.payload["portal_candidate_id"])


PortalCall = Callable[[PortalClient, Claim], Awaitable[Created]]

#: The portal call of each command type, and the prefix of the id its 201 gives.
CALLS: Final[Mapping[CommandType, tuple[PortalCall, str | None]]] = {
    CommandType.INTERVIEW_REQUEST: (
        lambda portal, c: portal.create_interview_request(
            c.body, idempotency_key=str(c.command_id), entity_id=c.entity_id
        ),
        "ireq_",
    ),
    CommandType.OFFER_SEND: (
        lambda portal, c: portal.create_offer(
            c.body, idempotency_key=str(c.command_id), entity_id=c.entity_id
        ),
        "off_",
    ),
    CommandType.CANDIDATE_STATUS: (
        lambda portal, c: portal.update_status(
            c.portal_candidate_id, c.body, idempotency_key=str(c.command_id)
        ),
        None,
    ),
}
