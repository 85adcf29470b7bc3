"""Settings: validated at start, with errors that name the setting; empty means unset; the mapping
given is the only source."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import SETTING_NAMES, Settings, get_settings, load_settings

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DocumentsStorage": "UseDevelopmentStorage=true",
    "ServiceBusConnection": "postgresql://postgres@127.0.0.1/db",
    "PORTAL_BASE_URL": "https://api.portal.example/",
    "PORTAL_API_KEY": "key",
    "PORTAL_WEBHOOK_SECRETS": "whsec_c2VjcmV0",
    "SYNC_REPLAY_SCHEDULE": "* * * * * *",
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


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "PORTAL_BASE_URL", "SYNC_REPLAY_SCHEDULE"])
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


# --- the sample, empty values, and the only source ------------------------------------------


def _sample_values() -> dict[str, str]:
    document = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))
    return {name: str(value) for name, value in document["Values"].items()}


#: What a developer's shell or an older local.settings.json may leave in the environment.
POLLUTION = {
    "STAGE_RULES": "",
    "PASS_MARKS": "{not json",
    "SCORE_BANDS": "",
    "WEBHOOK_MAX_BODY_BYTES": "5",
    "SYNC_REPLAY_SCHEDULE": "",
    "DATABASE_URL": "mysql://elsewhere/db",
    "KEY_VAULT_URL": "http://not-a-vault",
    "ServiceBusConnection": "",
}


def test_the_sample_settings_load_exactly_as_written_whatever_the_environment_holds(monkeypatch):
    for name, value in POLLUTION.items():
        monkeypatch.setenv(name, value)
    sample = _sample_values()
    settings = load_settings(sample)
    assert settings.stage_rules == {}  # "" in the sample: unset, so the default
    assert settings.pass_marks == {"default": Decimal(60)}
    assert settings.webhook_max_body_bytes == 196608
    assert settings.sync_replay_schedule == "* * * * * *"
    assert settings.database_url == sample["DATABASE_URL"]
    assert settings.key_vault_url is None
    assert settings.service_bus_connection == sample["ServiceBusConnection"]
    assert settings.alert_webhook_url is None
    assert settings.applicationinsights_connection_string is None


def test_a_mapping_is_the_only_source(monkeypatch):
    monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", "5")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example/from-the-shell")
    settings = load_settings(BASE)
    assert settings.webhook_max_body_bytes == 196608
    assert settings.alert_webhook_url is None
    # Settings itself reads nothing but what it is given, even if built directly.
    assert Settings.model_validate({**BASE}).webhook_max_body_bytes == 196608


REQUIRED = {"DATABASE_URL", "REDIS_URL", "PORTAL_BASE_URL", "SYNC_REPLAY_SCHEDULE"}


@pytest.mark.parametrize("name", sorted(SETTING_NAMES - REQUIRED))
@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_optional_setting_is_unset_and_takes_its_default(name, empty):
    defaults = load_settings(BASE)
    values = {**BASE, name: empty}
    if name in BASE:  # one of a pair where the other form may stand in
        values.update(
            {
                "ServiceBusConnection": {"ServiceBusConnection__fullyQualifiedNamespace": "ns.example.net"},
                "DocumentsStorage": {"DocumentsStorage__serviceUri": "https://acct.blob.core.windows.net"},
                "PORTAL_API_KEY": {"KEY_VAULT_URL": "https://vault.vault.azure.net"},
                "PORTAL_WEBHOOK_SECRETS": {"KEY_VAULT_URL": "https://vault.vault.azure.net"},
            }[name]
        )
    settings = load_settings(values)
    field = next(f for f, info in Settings.model_fields.items() if info.validation_alias == name)
    if name not in BASE:
        assert getattr(settings, field) == getattr(defaults, field)
    else:
        assert getattr(settings, field) is None


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_an_empty_required_setting_is_named_as_not_set(name):
    with pytest.raises(ConfigurationError, match=f"{name}: is required and not set"):
        load_settings({**BASE, name: ""})


def test_the_worker_reads_its_settings_from_the_environment_with_empty_values_unset(monkeypatch):
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**BASE, "STAGE_RULES": "", "ALERT_WEBHOOK_URL": ""}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.stage_rules == {}
        assert settings.alert_webhook_url is None
    finally:
        get_settings.cache_clear()


def test_the_host_storage_is_not_a_setting_of_the_app():
    assert "AzureWebJobsStorage" not in SETTING_NAMES
    load_settings({**BASE, "AzureWebJobsStorage__accountName": "hoststorage"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SYNC_REPLAY_SCHEDULE", "every second", "SYNC_REPLAY_SCHEDULE must be a 6-field NCRONTAB"),
        ("SYNC_REPLAY_SCHEDULE", "* * * * *", "SYNC_REPLAY_SCHEDULE must be a 6-field NCRONTAB"),
        ("DATABASE_URL", "host=127.0.0.1 dbname=x", "DATABASE_URL must be a postgresql://"),
        ("DATABASE_URL", "mysql://127.0.0.1/x", "DATABASE_URL must be a postgresql://"),
        ("REDIS_URL", "127.0.0.1:6379", "REDIS_URL must be a redis://"),
        ("ServiceBusConnection", "Endpoint=https://x", "ServiceBusConnection must be a Service Bus"),
        ("DocumentsStorage", "AccountName=x", "DocumentsStorage must be a storage connection string"),
        ("KEY_VAULT_URL", "http://vault.example", "KEY_VAULT_URL must be a https:// URL"),
        ("ALERT_WEBHOOK_URL", "hooks.example/x", "ALERT_WEBHOOK_URL must be a http://"),
        ("DOCUMENT_SCAN_URL", "ftp://scanner", "DOCUMENT_SCAN_URL must be a http://"),
        ("DocumentsStorage__serviceUri", "acct.blob.core.windows.net", "DocumentsStorage__serviceUri must"),
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", "abc", "APPLICATIONINSIGHTS_CONNECTION_STRING must"),
    ],
)
def test_connection_settings_are_checked_for_form_naming_the_setting(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**BASE, name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://user:hunter2@db/x"),
        ("ServiceBusConnection", "Endpoint=https://x;SharedAccessKey=hunter2"),
        ("DocumentsStorage", "AccountName=x;Key=hunter2"),
        ("REDIS_URL", "hunter2@cache:6379"),
    ],
)
def test_a_malformed_connection_setting_is_never_echoed(name, value):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, name: value})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SYNC_REPLAY_SCHEDULE", "*/5 * * * * *"),
        ("SYNC_REPLAY_SCHEDULE", "00:00:01"),
        ("DATABASE_URL", "postgres://u:p@db.example:5432/app?sslmode=require"),
        ("REDIS_URL", "rediss://:key@cache.example:6380/0"),
        (
            "ServiceBusConnection",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b",
        ),
        (
            "DocumentsStorage",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=b;EndpointSuffix=core.windows.net",
        ),
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x",
        ),
    ],
)
def test_well_formed_connection_settings_load(name, value):
    load_settings({**BASE, name: value})
