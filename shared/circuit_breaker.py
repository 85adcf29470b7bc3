"""One circuit breaker for the portal, its state in Redis so that every instance agrees.

DESIGN.md: 5 consecutive transient failures (408, 429, 5xx, timeouts, connection errors) open it;
while open no call is made and no retry is used up (callers get :class:`CircuitOpen`, a
transient error); after the cool-down (30 s) one probe, ``GET /v1/health``, decides: success
closes it, failure opens it for another cool-down. Other answers (2xx, and 4xx other than 408 and
429) show the portal is up: they reset the count. If Redis is down the breaker acts as closed:
an optimisation must never stop the flow.

State: one Redis hash ``{prefix}breaker:portal`` (``failures``, ``open_until`` in Unix seconds)
and a short-lived key ``{prefix}breaker:portal:probe`` so that only one instance probes at a time.
Each change of state is recorded, in the same script that makes it, in the hash
``{prefix}breaker:portal:changed`` (``state`` open or closed, ``at`` in Unix seconds), which
the health metrics read as the breaker's last change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared import metrics
from shared.errors import CircuitOpen

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Probe = Callable[[], Awaitable[bool]]

# Count a failure and open the breaker when the count reaches the threshold, atomically;
# the opening (not each later failure) is recorded as a change.
_RECORD_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'open_until', ARGV[2])
  if failures == tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[2], 'state', 'open', 'at', ARGV[3])
  end
end
return failures
"""

# A success resets the count; if the breaker was open, that is its closing, recorded.
_RECORD_SUCCESS = """
if redis.call('HEXISTS', KEYS[1], 'open_until') == 1 then
  redis.call('HSET', KEYS[3], 'state', 'closed', 'at', ARGV[1])
end
redis.call('DEL', KEYS[1], KEYS[2])
"""

# A failed probe opens the breaker for another cool-down.
_REOPEN = """
redis.call('HSET', KEYS[1], 'open_until', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[3], 'state', 'open', 'at', ARGV[2])
"""


class CircuitBreaker:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Clock = time.time,
    ) -> None:
        self._client = client
        self._key = f"{prefix}breaker:portal"
        self._probe_key = f"{prefix}breaker:portal:probe"
        self._changed_key = f"{prefix}breaker:portal:changed"
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._record_failure = client.register_script(_RECORD_FAILURE)
        self._record_success = client.register_script(_RECORD_SUCCESS)
        self._reopen = client.register_script(_REOPEN)

    async def before_call(self, probe: Probe) -> None:
        """Raise :class:`CircuitOpen` unless a call may be made now (running the probe if due)."""
        try:
            open_until_raw = await self._client.hget(self._key, "open_until")
        except (RedisError, OSError):
            return  # Redis down: act as closed
        if open_until_raw is None:
            return
        open_until = float(open_until_raw)
        now = self._clock()
        if now < open_until:
            metrics.increment("portal_calls_skipped", reason="circuit_open")
            raise CircuitOpen(
                f"portal circuit open for another {open_until - now:.0f} s", retry_after=open_until - now
            )
        try:
            probing = await self._client.set(self._probe_key, b"1", nx=True, px=int(self._cooldown * 1000))
        except (RedisError, OSError):
            return
        if not probing:
            metrics.increment("portal_calls_skipped", reason="probe_in_progress")
            raise CircuitOpen("portal circuit half-open: another instance is probing", retry_after=1.0)
        healthy = await probe()
        if healthy:
            await self.record_success()
            log.info("portal circuit closed: the health probe succeeded")
            return
        await self._open()
        raise CircuitOpen("portal circuit re-opened: the health probe failed", retry_after=self._cooldown)

    async def open_for(self) -> float | None:
        """Seconds the breaker stays open, or None when a call (or the probe) may be made now.

        Read-only: lets a caller with many calls to make (the sync replay) skip its whole run
        while the breaker is open, instead of claiming work only to put it back.
        """
        try:
            open_until_raw = await self._client.hget(self._key, "open_until")
        except (RedisError, OSError):
            return None
        if open_until_raw is None:
            return None
        remaining = float(open_until_raw) - self._clock()
        return remaining if remaining > 0 else None

    async def record_success(self) -> None:
        try:
            await self._record_success(
                keys=[self._key, self._probe_key, self._changed_key], args=[repr(self._clock())]
            )
        except (RedisError, OSError):
            return

    async def record_failure(self) -> None:
        try:
            failures = int(
                await self._record_failure(
                    keys=[self._key, self._changed_key],
                    args=[self._threshold, self._open_until(), repr(self._clock())],
                )
            )
        except (RedisError, OSError):
            return
        if failures == self._threshold:
            metrics.increment("portal_circuit_opened")
            log.warning("portal circuit opened after %d consecutive transient failures", failures)

    async def _open(self) -> None:
        try:
            await self._reopen(
                keys=[self._key, self._probe_key, self._changed_key],
                args=[self._open_until(), repr(self._clock())],
            )
        except (RedisError, OSError):
            return

    def _open_until(self) -> str:
        return repr(self._clock() + self._cooldown)
