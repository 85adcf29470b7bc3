"""Settings: validated at start, with errors that name the setting."""

from decimal import Decimal

import pytest

from shared.errors import ConfigurationError
from shared.settings import load_settings

BASE = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "DocumentsStorage": "UseDevelopmentStorage=true",
    "ServiceBusConnection": "postgresql://postgres@127.0.0.1/db",
    "PORTAL_BASE_URL": "https://api.portal.example/",
    "PORTAL_API_KEY": "key",
    "PORTAL_WEBHOOK_SECRETS": "whsec_c2VjcmV0",
}


def test_defaults_are_designs_table():
    settings = load_settings(BASE)
    assert settings.webhook_max_body_bytes == 196608
    assert settings.webhook_tolerance_seconds == 300
    assert settings.import_max_lines == 10000
    assert settings.import_max_bytes == 10485760
    assert settings.pass_marks == {"default": Decimal(60)}
    assert settings.score_bands == {"weak": 0, "moderate": 40, "strong": 70}
    assert settings.sync_lease_seconds == 60
    assert settings.portal_timeout_seconds == 10
    assert (settings.circuit_failure_threshold, settings.circuit_cooldown_seconds) == (5, 30)
    assert settings.document_max_bytes == 52428800
    assert settings.portal_base_url == "https://api.portal.example"
    assert settings.documents_container == "candidate-documents"


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "AzureWebJobsStorage", "PORTAL_BASE_URL"])
def test_missing_required_setting_is_named(missing):
    with pytest.raises(ConfigurationError, match=missing):
        load_settings({k: v for k, v in BASE.items() if k != missing})


def test_empty_value_counts_as_missing():
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        load_settings({**BASE, "REDIS_URL": "  "})


def test_secrets_required_unless_key_vault():
    without = {k: v for k, v in BASE.items() if not k.startswith("PORTAL_") or k == "PORTAL_BASE_URL"}
    with pytest.raises(ConfigurationError, match="PORTAL_API_KEY and PORTAL_WEBHOOK_SECRETS"):
        load_settings(without)
    settings = load_settings({**without, "KEY_VAULT_URL": "https://vault.example"})
    assert settings.portal_api_key is None


def test_service_bus_by_namespace_is_enough():
    values = {k: v for k, v in BASE.items() if k != "ServiceBusConnection"}
    with pytest.raises(ConfigurationError, match="ServiceBusConnection"):
        load_settings(values)
    settings = load_settings(
        {**values, "ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net"}
    )
    assert settings.service_bus_namespace == "ns.servicebus.windows.net"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WEBHOOK_MAX_BODY_BYTES", "lots", "WEBHOOK_MAX_BODY_BYTES"),
        ("WEBHOOK_TOLERANCE_SECONDS", "-1", "WEBHOOK_TOLERANCE_SECONDS"),
        ("PASS_MARKS", "{not json", "PASS_MARKS is not valid JSON"),
        ("PASS_MARKS", '{"coding": 70}', 'PASS_MARKS must be a JSON object with a "default" entry'),
        ("PASS_MARKS", '{"default": 160}', "between 0 and 100"),
        ("SCORE_BANDS", '{"weak": 0, "strong": 70}', "exactly the keys"),
        ("SCORE_BANDS", '{"weak": 0, "moderate": 80, "strong": 70}', "must start at 0 and rise"),
        ("PORTAL_BASE_URL", "ftp://portal", "PORTAL_BASE_URL must be an http"),
        ("DOCUMENTS_CONTAINER", "Bad_Name", "DOCUMENTS_CONTAINER"),
    ],
)
def test_malformed_setting_is_named(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**BASE, name: value})


def test_secret_values_never_appear_in_errors():
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, "PORTAL_API_KEY": "super-secret-value", "WEBHOOK_MAX_BODY_BYTES": "x"})
    assert "super-secret-value" not in str(caught.value)


def test_pass_marks_per_type_are_decimals():
    settings = load_settings({**BASE, "PASS_MARKS": '{"default": 60, "coding": 72.5}'})
    assert settings.pass_marks["coding"] == Decimal("72.5")
