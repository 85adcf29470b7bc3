"""The two secrets, from the environment or Key Vault, cached and refreshable without a restart.

A rotated webhook secret must be picked up while the app runs: the receiver calls
:meth:`SecretStore.refresh` once (at most once a minute) before it answers 401 for a signature
that matches no secret it holds. Values are cached for five minutes otherwise. The Key Vault SDK
call sits at the edge (:class:`KeyVaultSource`); the caching and refresh logic is tested with a
source of the tests' own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from shared.errors import ConfigurationError, DependencyUnavailable
from shared.settings import Settings

PORTAL_API_KEY = "portal-api-key"
PORTAL_WEBHOOK_SECRETS = "portal-webhook-secrets"
SECRET_NAMES = (PORTAL_API_KEY, PORTAL_WEBHOOK_SECRETS)

Clock = Callable[[], float]

log = logging.getLogger(__name__)


class SecretSource(Protocol):
    """Where secret values come from; ``name`` is the Key Vault secret name."""

    async def fetch(self, name: str) -> str: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EnvironmentSource:
    """Secrets from settings (environment / local.settings.json); re-read on refresh."""

    values: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> EnvironmentSource:
        values = {}
        if settings.portal_api_key is not None:
            values[PORTAL_API_KEY] = settings.portal_api_key.get_secret_value()
        if settings.portal_webhook_secrets is not None:
            values[PORTAL_WEBHOOK_SECRETS] = settings.portal_webhook_secrets.get_secret_value()
        return cls(values)

    async def fetch(self, name: str) -> str:
        try:
            return self.values[name]
        except KeyError:
            raise ConfigurationError(f"secret {name!r} is not configured") from None

    async def close(self) -> None:
        return None


class _SecretClient(Protocol):
    """The slice of ``azure.keyvault.secrets.aio.SecretClient`` we use (the edge)."""

    def get_secret(self, name: str, /) -> Awaitable[Any]: ...

    async def close(self) -> None: ...


class KeyVaultSource:
    """Secrets from Azure Key Vault through ``DefaultAzureCredential`` (managed identity in Azure).

    The SDK client is injected so the translation of its answers is tested without a vault;
    :meth:`connect` builds the real one.
    """

    def __init__(self, client: _SecretClient, credential: Any = None) -> None:
        self._client = client
        self._credential = credential

    @classmethod
    def connect(cls, vault_url: str) -> KeyVaultSource:
        from azure.identity.aio import DefaultAzureCredential
        from azure.keyvault.secrets.aio import SecretClient

        credential = DefaultAzureCredential()
        return cls(SecretClient(vault_url=vault_url, credential=credential), credential)

    async def fetch(self, name: str) -> str:
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        try:
            secret = await self._client.get_secret(name)
        except ResourceNotFoundError:
            raise ConfigurationError(f"Key Vault has no secret named {name!r}") from None
        except ClientAuthenticationError:
            raise ConfigurationError(
                f"Key Vault refused the app's identity for {name!r}: grant it 'Key Vault Secrets User'"
            ) from None
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise ConfigurationError(
                    f"Key Vault forbids reading {name!r}: grant the app's identity 'Key Vault Secrets User'"
                ) from None
            raise DependencyUnavailable(f"Key Vault answered {exc.status_code} for {name!r}") from None
        except AzureError as exc:
            raise DependencyUnavailable(
                f"Key Vault did not answer for {name!r}: {type(exc).__name__}"
            ) from None
        value = getattr(secret, "value", None)
        if not value:
            raise ConfigurationError(f"Key Vault secret {name!r} is empty")
        return str(value)

    async def close(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()


@dataclass(slots=True)
class _Cached:
    value: str
    fetched_at: float


class SecretStore:
    """Caches secrets for ``ttl_seconds``; :meth:`refresh` is rate-limited per secret.

    Concurrent callers that find a value expired wait on one lock and re-check the cache inside
    it, so an expiry costs one fetch, not one per waiting request. When the source is briefly
    unreachable (:class:`DependencyUnavailable`, e.g. Key Vault throttling or a network blip)
    the store keeps serving the last value it had, logs a warning, and asks again after
    ``stale_retry_seconds`` (DESIGN.md: "a secret store that is briefly unreachable serves the
    last value it had"); only a secret never fetched fails.
    """

    def __init__(
        self,
        source: SecretSource,
        *,
        ttl_seconds: float = 300,
        min_refresh_interval: float = 60,
        stale_retry_seconds: float = 30,
        clock: Clock = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._min_refresh = min_refresh_interval
        self._stale_retry = stale_retry_seconds
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._last_refresh: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def _fresh(self, name: str) -> str | None:
        cached = self._cache.get(name)
        if cached is not None and self._clock() - cached.fetched_at < self._ttl:
            return cached.value
        return None

    async def get(self, name: str) -> str:
        value = self._fresh(name)
        if value is not None:
            return value
        async with self._lock:
            value = self._fresh(name)  # another caller may have fetched it while we waited
            if value is not None:
                return value
            return await self._fetch(name)

    async def refresh(self, name: str) -> bool:
        """Fetch ``name`` again unless that was done within the last minute; True if fetched.

        False too when the source is unreachable and the last value is kept: the caller then
        decides as it would without a rotation.
        """
        async with self._lock:
            now = self._clock()
            last = self._last_refresh.get(name)
            if last is not None and now - last < self._min_refresh:
                return False
            self._last_refresh[name] = now
            before = self._cache.get(name)
            await self._fetch(name)
            return self._cache.get(name) is not before

    async def _fetch(self, name: str) -> str:
        """Fetch under the lock; on a transient failure keep the last value if there is one."""
        stale = self._cache.get(name)
        try:
            value = await self._source.fetch(name)
        except DependencyUnavailable as exc:
            if stale is None:
                raise
            log.warning(
                "secret %r could not be fetched (%s); serving the value fetched %.0f s ago and "
                "trying again in %.0f s",
                name,
                exc,
                self._clock() - stale.fetched_at,
                self._stale_retry,
            )
            # Keep the value, but look again after the retry interval rather than at once.
            stale.fetched_at = self._clock() - self._ttl + self._stale_retry
            return stale.value
        self._cache[name] = _Cached(value, self._clock())
        return value

    async def close(self) -> None:
        await self._source.close()


def create_secret_store(settings: Settings) -> SecretStore:
    """Key Vault when ``KEY_VAULT_URL`` is set (cached 5 min), else the environment."""
    source: SecretSource
    if settings.key_vault_url:
        source = KeyVaultSource.connect(settings.key_vault_url)
    else:
        # Environment values cannot change under a running worker: no need to re-read often.
        source = EnvironmentSource.from_settings(settings)
    return SecretStore(source)
