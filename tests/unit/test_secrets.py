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


class SlowVault(RotatingVault):
    """A vault whose answer takes a while, so that concurrent callers overlap."""

    async def fetch(self, name: str) -> str:
        import asyncio

        self.fetches += 1
        await asyncio.sleep(0.01)
        return self.value


async def test_an_expiry_costs_one_fetch_however_many_callers_wait():
    import asyncio

    vault, clock = SlowVault("v1"), Clock()
    store = SecretStore(vault, ttl_seconds=300, clock=clock)
    values = await asyncio.gather(*(store.get(PORTAL_WEBHOOK_SECRETS) for _ in range(20)))
    assert set(values) == {"v1"}
    assert vault.fetches == 1
    clock.now += 301
    vault.value = "v2"
    values = await asyncio.gather(*(store.get(PORTAL_WEBHOOK_SECRETS) for _ in range(20)))
    assert set(values) == {"v2"}
    assert vault.fetches == 2


class FlakyVault(RotatingVault):
    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.down = False

    async def fetch(self, name: str) -> str:
        from shared.errors import DependencyUnavailable

        self.fetches += 1
        if self.down:
            raise DependencyUnavailable("Key Vault did not answer for 'portal-webhook-secrets'")
        return self.value


async def test_a_briefly_unreachable_vault_serves_the_last_value_and_warns(caplog):
    from shared.errors import DependencyUnavailable

    vault, clock = FlakyVault("whsec_last"), Clock()
    store = SecretStore(vault, ttl_seconds=300, stale_retry_seconds=30, clock=clock)
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_last"
    vault.down = True
    clock.now += 301
    with caplog.at_level("WARNING", logger="shared.secrets"):
        assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_last"
    assert "serving the value fetched 301 s ago" in caplog.text
    assert "whsec_last" not in caplog.text
    fetches = vault.fetches
    clock.now += 10  # within the retry interval: no new attempt
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_last"
    assert vault.fetches == fetches
    clock.now += 21  # the vault is back: the next attempt after the interval takes the new value
    vault.down, vault.value = False, "whsec_new"
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_new"
    # A secret never fetched cannot be served stale: the failure is raised (transient).
    vault.down = True
    with pytest.raises(DependencyUnavailable):
        await store.get("portal-api-key")


async def test_a_refresh_during_an_outage_keeps_the_last_value_and_reports_no_reread():
    vault, clock = FlakyVault("whsec_last"), Clock()
    store = SecretStore(vault, clock=clock)
    await store.get(PORTAL_WEBHOOK_SECRETS)
    vault.down = True
    assert await store.refresh(PORTAL_WEBHOOK_SECRETS) is False
    assert await store.get(PORTAL_WEBHOOK_SECRETS) == "whsec_last"
