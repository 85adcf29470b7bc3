"""The portal circuit breaker as an operator sees it, read from its Redis state.

:mod:`shared.circuit_breaker` keeps one hash, ``{prefix}breaker:portal``: ``failures`` (the
consecutive transient failures) and, once open, ``open_until``; closing deletes it. So the state
is ``open`` before ``open_until``, ``half_open`` after it (the next call probes), ``closed``
without it. The breaker records each change in ``{prefix}breaker:portal:changed`` (``state``,
``at``), in the same Redis script that makes it: that is the last change shown. Before the
first change was recorded (a breaker that never opened) there is none.
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
        self._changed_key = f"{prefix}breaker:portal:changed"
        self._cooldown = cooldown_seconds

    async def read(self, now: datetime) -> BreakerState:
        """Raises redis' errors: the caller reports the breaker as unknown."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key)
            pipe.hget(self._changed_key, "at")
            fields, changed_at = await pipe.execute()
        values = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
        failures = int(values.get("failures") or 0)
        open_until = _moment(values.get("open_until"))
        if open_until is None:
            return BreakerState("closed", failures, None, _moment(changed_at))
        state: State = "open" if now < open_until else "half_open"
        return BreakerState(state, failures, open_until, _moment(changed_at))
