"""The secret store: cached, refreshable on demand without a restart, rate-limited refresh."""

import pytest

from shared.errors import ConfigurationError
from shared.secrets import PORTAL_WEBHOOK_SECRETS, EnvironmentSource, SecretStore


class RotatingVault:
    """A secret source whose value the test rotates, counting fetches (the Key Vault stand-in)."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.fetches = 0

    async def fetch(self, name: str) -> str:
        self.fetches += 1
        return self.value

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_values_are_cached_for_the_ttl():
    vault, clock = RotatingVault("old"), Clock()
    store = SecretStore(vault, ttl_seconds=300, clock=clock)
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "old"
    vault.value = "new"
    clock.now += 299
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "old"
    assert vault.fetches == 1
    clock.now += 2
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "new"


async def test_refresh_picks_up_a_rotation_at_most_once_a_minute():
    vault, clock = RotatingVault("old"), Clock()
    store = SecretStore(vault, clock=clock)
    await store.get(PORTAL_WEBHOOK_SECRETS)
    vault.value = "rotated"
    assert await store.refresh(PORTAL_WEBHOOK_SECRETS) is True
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "rotated"
    vault.value = "rotated-again"
    clock.now += 30
    assert await store.refresh(PORTAL_WEBHOOK_SECRETS) is False
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "rotated"
    clock.now += 31
    assert await store.refresh(PORTAL_WEBHOOK_SECRETS) is True
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "rotated-again"


async def test_environment_source_names_a_missing_secret():
    with pytest.raises(ConfigurationError, match="portal-api-key"):
        await EnvironmentSource({}).fetch("portal-api-key")


class SdkClient:
    """Answers like ``SecretClient.get_secret`` would: a value or an azure-core error."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.closed = False

    async def get_secret(self, name):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return type("KeyVaultSecret", (), {"value": self.outcome})()

    async def close(self):
        self.closed = True


async def test_key_vault_value_is_returned():
    from shared.secrets import KeyVaultSource

    assert await KeyVaultSource(SdkClient("whsec_abc")).fetch(PORTAL_WEBHOOK_SECRETS) == "whsec_abc"


@pytest.mark.parametrize(
    ("outcome", "error", "message"),
    [
        ("not-found", ConfigurationError, "no secret named 'portal-webhook-secrets'"),
        ("auth", ConfigurationError, "Key Vault Secrets User"),
        ("forbidden", ConfigurationError, "forbids reading"),
        ("unavailable", "transient", "answered 503"),
        ("network", "transient", "did not answer"),
        ("", ConfigurationError, "is empty"),
    ],
)
async def test_key_vault_failures_are_translated(outcome, error, message):
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    from shared.errors import DependencyUnavailable
    from shared.secrets import KeyVaultSource

    def http_error(status):
        exc = HttpResponseError(message="vault said no")
        exc.status_code = status
        return exc

    raised = {
        "not-found": ResourceNotFoundError("missing"),
        "auth": ClientAuthenticationError("no token"),
        "forbidden": http_error(403),
        "unavailable": http_error(503),
        "network": ServiceRequestError("connection refused"),
    }.get(outcome, outcome)
    expected = DependencyUnavailable if error == "transient" else error
    with pytest.raises(expected, match=message) as caught:
        await KeyVaultSource(SdkClient(raised)).fetch(PORTAL_WEBHOOK_SECRETS)
    assert caught.value.transient is (error == "transient")


async def test_a_rotated_key_vault_secret_is_seen_after_refresh():
    from shared.secrets import KeyVaultSource

    client = SdkClient("whsec_old")
    store = SecretStore(KeyVaultSource(client), clock=Clock())
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_old"
    client.outcome = "whsec_old whsec_new"
    await store.refresh(PORTAL_WEBHOOK_SECRETS)
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_old whsec_new"
    await store.close()
    assert client.closed
