"""The portal circuit breaker as an operator sees it, read from its Redis state.

:mod:`shared.circuit_breaker` keeps one hash, ``{prefix}breaker:portal``: ``failures`` (the
consecutive transient failures) and, once open, ``open_until``; closing deletes it. So the state
is ``open`` before ``open_until``, ``half_open`` after it (the next call probes), ``closed``
without it. The breaker records no time of change: the opening is ``open_until`` minus the
cool-down; a closing is noticed by the health timer, which remembers when it first saw the
breaker closed again (``{prefix}health:breaker_closed_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis.asyncio as aioredis

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerState:
    state: State
    failures: int
    open_until: datetime | None
    changed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self.failures,
            "open_until": self.open_until.isoformat() if self.open_until else None,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


def _moment(raw: bytes | str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except ValueError:
        return None


class BreakerReader:
    def __init__(self, client: aioredis.Redis, prefix: str, *, cooldown_seconds: float) -> None:
        self._client = client
        self._key = f"{prefix}breaker:portal"
        self._closed_key = f"{prefix}health:breaker_closed_at"
        self._cooldown = cooldown_seconds

    async def read(self, now: datetime) -> BreakerState:
        """Raises redis' errors: the caller reports the breaker as unknown."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key)
            pipe.get(self._closed_key)
            fields, closed_at = await pipe.execute()
        values = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
        failures = int(values.get("failures") or 0)
        open_until = _moment(values.get("open_until"))
        if open_until is None:
            return BreakerState("closed", failures, None, _moment(closed_at))
        opened_at = datetime.fromtimestamp(open_until.timestamp() - self._cooldown, UTC)
        state: State = "open" if now < open_until else "half_open"
        return BreakerState(state, failures, open_until, opened_at)

    async def note_closed(self, now: datetime) -> None:
        """Remember when the breaker was first seen closed (kept until it opens again)."""
        await self._client.set(self._closed_key, repr(now.timestamp()), nx=True)

    async def note_open(self) -> None:
        await self._client.delete(self._closed_key)
