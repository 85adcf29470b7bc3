"""Redis: the idempotency fast path and shared state (circuit breaker), never the source of truth.

Every key carries the ``REDIS_KEY_PREFIX`` so several deployments (and every test) share a
server without seeing each other. Redis is an optimisation: when it is down, callers skip the
fast path (``RedisUnavailable`` is a :class:`DependencyUnavailable` they catch) and PostgreSQL's
UNIQUE constraints still guarantee each effect happens once.

``REDIS_AUTH=entra`` (Azure Managed Redis with Entra ID): the client authenticates as the
identity's object id with an Entra ID token from ``DefaultAzureCredential``, through Redis's own
``redis-entraid`` provider, which renews the token before it expires and re-authenticates the
open connections with it (the server closes a connection whose token has expired). Its token
request is a blocking call on the event loop, made about once every 45 minutes (70 % of a
token's life); with a managed identity it is a local call that takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.credentials import CredentialProvider
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import ConfigurationError, DependencyUnavailable

PROCESSED_TTL_SECONDS = 7 * 24 * 3600

#: The scope Azure Managed Redis (and Azure Cache for Redis) accepts tokens for.
REDIS_ENTRA_SCOPE = "https://redis.azure.com/.default"


class RedisUnavailable(DependencyUnavailable):
    """Redis did not answer in time; the caller falls back to the durable path."""


def entra_credential_provider() -> CredentialProvider:
    """Tokens for ``REDIS_ENTRA_SCOPE`` from ``DefaultAzureCredential``, renewed in the background."""
    from redis_entraid.cred_provider import create_from_default_azure_credential

    provider: CredentialProvider = create_from_default_azure_credential((REDIS_ENTRA_SCOPE,))
    return provider


def create_redis(
    url: str, *, auth: str = "password", credential_provider: CredentialProvider | None = None
) -> aioredis.Redis:
    """A client for ``REDIS_URL``; ``auth`` is ``REDIS_AUTH``.

    ``password`` uses what the URL holds (none locally). ``entra`` uses ``credential_provider``
    when given (tests hand in one whose identity provider is their own), else
    :func:`entra_credential_provider`; the URL must then carry no password.
    """
    options: dict[str, Any] = {
        # Short timeouts: Redis is a fast path, and waiting long for it defeats the purpose.
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }
    if auth == "password":
        return aioredis.Redis.from_url(url, **options)
    if auth != "entra":
        raise ConfigurationError("REDIS_AUTH must be one of ['password', 'entra']")
    if urlsplit(url).password:
        raise ConfigurationError("REDIS_URL must not hold a password when REDIS_AUTH=entra")
    provider = credential_provider or entra_credential_provider()
    # Not Redis.from_url: it builds the pool first and hands the client no credential
    # provider, so the client never subscribes the pool to token renewals (redis-py 8.1) and
    # open connections would be closed by the server when their first token expired.
    pool = aioredis.ConnectionPool.from_url(url, credential_provider=provider, **options)
    client = aioredis.Redis(connection_pool=pool, credential_provider=provider)
    client.auto_close_connection_pool = True  # as from_url does: the client owns its pool
    return client


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
