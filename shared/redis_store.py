"""Redis: the idempotency fast path and shared state (circuit breaker), never the source of truth.

Every key carries the ``REDIS_KEY_PREFIX`` so several deployments (and every test) share a
server without seeing each other. Redis is an optimisation: when it is down, callers skip the
fast path (``RedisUnavailable`` is a :class:`DependencyUnavailable` they catch) and PostgreSQL's
UNIQUE constraints still guarantee each effect happens once.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import DependencyUnavailable

PROCESSED_TTL_SECONDS = 7 * 24 * 3600


class RedisUnavailable(DependencyUnavailable):
    """Redis did not answer in time; the caller falls back to the durable path."""


def create_redis(url: str) -> aioredis.Redis:
    # Short timeouts: Redis is a fast path, and waiting long for it defeats the purpose.
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        health_check_interval=30,
        retry_on_timeout=False,
    )


class ProcessedEvents:
    """Which event ids were processed: written after commit, read by the receiver (7 days)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}evt:"

    def key(self, event_id: str) -> str:
        return self._prefix + event_id

    async def is_processed(self, event_id: str) -> bool:
        try:
            return bool(await self._client.exists(self.key(event_id)))
        except (RedisConnectionError, RedisTimeoutError, RedisError, OSError) as exc:
            raise RedisUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc

    async def mark_processed(self, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        if not ids:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    pipe.set(self.key(event_id), b"1", ex=PROCESSED_TTL_SECONDS)
                await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, RedisError, OSError) as exc:
            raise RedisUnavailable(f"Redis unavailable: {type(exc).__name__}") from exc
