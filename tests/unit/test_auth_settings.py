"""DATABASE_AUTH and REDIS_AUTH: how the app authenticates to PostgreSQL and Redis."""

import pytest

from shared.errors import ConfigurationError
from shared.settings import load_settings

BASE = {
    "DATABASE_URL": "postgresql://func-portal@pg.example/portal?sslmode=require",
    "REDIS_URL": "rediss://redis.example:10000",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "DocumentsStorage__serviceUri": "https://docs.blob.core.windows.net",
    "ServiceBusConnection__fullyQualifiedNamespace": "sb-portal.servicebus.windows.net",
    "PORTAL_BASE_URL": "https://api.portal.example",
    "KEY_VAULT_URL": "https://kv-portal.vault.azure.net/",
    "SYNC_REPLAY_SCHEDULE": "* * * * * *",
}


def test_passwords_are_the_default_so_local_runs_need_no_azure():
    settings = load_settings(BASE)
    assert (settings.database_auth, settings.redis_auth) == ("password", "password")


def test_entra_is_accepted_for_both():
    settings = load_settings({**BASE, "DATABASE_AUTH": "entra", "REDIS_AUTH": "entra"})
    assert (settings.database_auth, settings.redis_auth) == ("entra", "entra")


def test_an_empty_value_means_the_default():
    settings = load_settings({**BASE, "DATABASE_AUTH": "", "REDIS_AUTH": " "})
    assert (settings.database_auth, settings.redis_auth) == ("password", "password")


@pytest.mark.parametrize("setting", ["DATABASE_AUTH", "REDIS_AUTH"])
def test_an_unknown_method_is_refused_by_name(setting):
    with pytest.raises(ConfigurationError, match=setting):
        load_settings({**BASE, setting: "managed-identity"})
