"""Counters a test reads back to assert what the ATS did: every REST call by method, path
template and status (with the ``Idempotency-Key`` of each call, in order, and per key the
statuses it got and how many answers were replays of a remembered one), every fault injected
by kind, and every webhook delivery attempt by result.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class _Key:
    by_status: Counter[str] = field(default_factory=Counter)
    replayed: int = 0


@dataclass(slots=True)
class _Route:
    by_status: Counter[str] = field(default_factory=Counter)
    idempotency_keys: list[str] = field(default_factory=list)
    by_key: dict[str, _Key] = field(default_factory=dict)


class Stats:
    """Counts calls, faults and delivery attempts; :meth:`snapshot` is the ``/admin/stats`` body."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = defaultdict(_Route)
        self._faults: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._attempts_by_kind: Counter[str] = Counter()

    def record_call(
        self, method: str, template: str, result: str, idempotency_key: str | None, *, replayed: bool = False
    ) -> None:
        """``result`` is the status code as text, or ``reset``/``timeout``/``disconnected`` when
        none was sent;
        ``replayed``: the answer was a remembered one (``Idempotent-Replayed``)."""
        route = self._routes[f"{method} {template}"]
        route.by_status[result] += 1
        if idempotency_key is not None:
            route.idempotency_keys.append(idempotency_key)
            key = route.by_key.setdefault(idempotency_key, _Key())
            key.by_status[result] += 1
            key.replayed += int(replayed)

    def record_fault(self, kind: str) -> None:
        self._faults[kind] += 1

    def record_attempt(self, kind: str, result: str) -> None:
        """``result`` is the ATS's status code as text, ``timeout`` or ``connection_error``."""
        self._attempts[result] += 1
        self._attempts_by_kind[kind] += 1

    def reset(self) -> None:
        self._routes.clear()
        self._faults.clear()
        self._attempts.clear()
        self._attempts_by_kind.clear()

    def snapshot(self, deliveries_by_outcome: dict[str, int]) -> dict[str, Any]:
        return {
            "requests": {
                name: {
                    "total": sum(route.by_status.values()),
                    "by_status": dict(route.by_status),
                    "idempotency_keys": list(route.idempotency_keys),
                    "by_idempotency_key": {
                        key: {"by_status": dict(counts.by_status), "replayed": counts.replayed}
                        for key, counts in route.by_key.items()
                    },
                }
                for name, route in sorted(self._routes.items())
            },
            "faults": dict(self._faults),
            "webhooks": {
                "attempts": sum(self._attempts.values()),
                "attempts_by_result": dict(self._attempts),
                "attempts_by_kind": dict(self._attempts_by_kind),
                "deliveries_by_outcome": deliveries_by_outcome,
            },
        }
