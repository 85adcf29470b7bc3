"""One typed settings object, read from one mapping and validated at start.

Names and defaults are DESIGN.md's table. Under Core Tools and devhost the values come from
``local.settings.json`` ``Values`` (devhost never overrides what the environment already sets).
A missing or malformed setting raises :class:`ConfigurationError` naming the setting, so a
misconfigured worker fails at start rather than on its first message.

Two rules hold for every setting (DESIGN.md, "Settings"):

* an empty (or blank) value means "not set": ``local.settings.sample.json`` lists optional
  settings as ``""``, and Azure app settings are often created empty;
* the mapping given to :func:`load_settings` is the only source. ``Settings`` is a
  pydantic-settings model, whose default sources would also read ``os.environ`` behind the
  caller's back (a test's mapping polluted by the developer's shell, or an empty value from
  the environment reaching a validator); :meth:`Settings.settings_customise_sources` keeps
  only the values passed in. The worker passes ``os.environ`` itself (:func:`get_settings`).

Connection settings are checked for their form here (a URL scheme, a connection string's
keys), so that a typo names its setting at start instead of surfacing as a driver error on
the first request. Error messages never echo a value: connection strings hold keys.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from shared.errors import ConfigurationError

BANDS = ("weak", "moderate", "strong")

#: URL schemes each connection setting accepts.
POSTGRES_SCHEMES = ("postgresql", "postgres")
REDIS_SCHEMES = ("redis", "rediss", "unix")
HTTP_SCHEMES = ("http", "https")

# A 6-field NCRONTAB (second minute hour day month weekday) or a TimeSpan (hh:mm:ss, d.hh:mm:ss).
_NCRONTAB_FIELD = r"[0-9A-Za-z*/,\-?]+"
_TIMESPAN = r"(?:\d+\.)?\d{1,2}:\d{2}:\d{2}"
_SCHEDULE = re.compile(rf"^(?:{_NCRONTAB_FIELD}(?:\s+{_NCRONTAB_FIELD}){{5}}|{_TIMESPAN})$")


def _parse_json_object(value: Any, setting: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{setting} is not valid JSON: {exc.msg}") from None
    return value


def _require_url(value: str, setting: str, schemes: tuple[str, ...], example: str) -> str:
    """``value`` if it is a URL with one of ``schemes`` and a host (or a path for unix
    sockets); the error names the setting and an example, never the value."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes or not (parts.netloc or parts.path):
        raise ValueError(f"{setting} must be a {'/'.join(s + '://' for s in schemes)} URL, e.g. {example}")
    return value.strip()


def _connection_string_keys(value: str) -> dict[str, str]:
    pairs = (part.split("=", 1) for part in value.split(";") if part.strip())
    return {key.strip().lower(): val.strip() for key, val in (p for p in pairs if len(p) == 2)}


class Settings(BaseSettings):
    """Every setting of DESIGN.md; field aliases are the exact environment variable names."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", populate_by_name=False, env_ignore_empty=True
    )

    database_url: str = Field(validation_alias="DATABASE_URL")
    # entra: the password is an Entra ID token fetched per new connection (shared/db_auth.py).
    database_auth: Literal["password", "entra"] = Field(default="password", validation_alias="DATABASE_AUTH")
    redis_url: str = Field(validation_alias="REDIS_URL")
    # entra: AUTH with the identity's object id and an Entra ID token, renewed on open connections.
    redis_auth: Literal["password", "entra"] = Field(default="password", validation_alias="REDIS_AUTH")
    redis_key_prefix: str = Field(default="portal:", validation_alias="REDIS_KEY_PREFIX")
    documents_storage: str | None = Field(default=None, validation_alias="DocumentsStorage")
    documents_storage_service_uri: str | None = Field(
        default=None, validation_alias="DocumentsStorage__serviceUri"
    )
    documents_container: str = Field(
        default="candidate-documents",
        pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
        validation_alias="DOCUMENTS_CONTAINER",
    )
    service_bus_connection: str | None = Field(default=None, validation_alias="ServiceBusConnection")
    service_bus_namespace: str | None = Field(
        default=None, validation_alias="ServiceBusConnection__fullyQualifiedNamespace"
    )
    portal_base_url: str = Field(validation_alias="PORTAL_BASE_URL")
    portal_api_key: SecretStr | None = Field(default=None, validation_alias="PORTAL_API_KEY")
    portal_webhook_secrets: SecretStr | None = Field(default=None, validation_alias="PORTAL_WEBHOOK_SECRETS")
    key_vault_url: str | None = Field(default=None, validation_alias="KEY_VAULT_URL")
    webhook_max_body_bytes: int = Field(default=196608, gt=0, validation_alias="WEBHOOK_MAX_BODY_BYTES")
    webhook_tolerance_seconds: int = Field(default=300, gt=0, validation_alias="WEBHOOK_TOLERANCE_SECONDS")
    import_max_lines: int = Field(default=10000, gt=0, validation_alias="IMPORT_MAX_LINES")
    import_max_bytes: int = Field(default=10485760, gt=0, validation_alias="IMPORT_MAX_BYTES")
    pass_marks: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=lambda: {"default": Decimal(60)}, validation_alias="PASS_MARKS"
    )
    score_bands: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=lambda: {"weak": Decimal(0), "moderate": Decimal(40), "strong": Decimal(70)},
        validation_alias="SCORE_BANDS",
    )
    stage_rules: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict, validation_alias="STAGE_RULES"
    )
    sync_replay_schedule: str = Field(validation_alias="SYNC_REPLAY_SCHEDULE")
    sync_lease_seconds: int = Field(default=60, gt=0, validation_alias="SYNC_LEASE_SECONDS")
    portal_timeout_seconds: float = Field(default=10, gt=0, validation_alias="PORTAL_TIMEOUT_SECONDS")
    circuit_failure_threshold: int = Field(default=5, gt=0, validation_alias="CIRCUIT_FAILURE_THRESHOLD")
    circuit_cooldown_seconds: float = Field(default=30, gt=0, validation_alias="CIRCUIT_COOLDOWN_SECONDS")
    document_max_bytes: int = Field(default=52428800, gt=0, validation_alias="DOCUMENT_MAX_BYTES")
    document_scan_command: str | None = Field(default=None, validation_alias="DOCUMENT_SCAN_COMMAND")
    document_scan_url: str | None = Field(default=None, validation_alias="DOCUMENT_SCAN_URL")
    applicationinsights_connection_string: str | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )
    alert_webhook_url: str | None = Field(default=None, validation_alias="ALERT_WEBHOOK_URL")
    # Alerts and their thresholds (docs/operations.md, "Alerts"); retention of stored payloads.
    alert_format: Literal["auto", "teams", "slack"] = Field(default="auto", validation_alias="ALERT_FORMAT")
    alert_remind_hours: float = Field(default=24, gt=0, validation_alias="ALERT_REMIND_HOURS")
    alert_success_rate_min: float = Field(default=0.95, ge=0, le=1, validation_alias="ALERT_SUCCESS_RATE_MIN")
    alert_min_events: int = Field(default=20, ge=1, validation_alias="ALERT_MIN_EVENTS")
    alert_p99_latency_seconds: float = Field(default=60, gt=0, validation_alias="ALERT_P99_LATENCY_SECONDS")
    alert_signature_failures: int = Field(default=20, ge=0, validation_alias="ALERT_SIGNATURE_FAILURES")
    alert_sync_due_seconds: float = Field(default=300, gt=0, validation_alias="ALERT_SYNC_DUE_SECONDS")
    payload_retention_days: int = Field(default=90, ge=1, validation_alias="PAYLOAD_RETENTION_DAYS")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values passed in: never ``os.environ``, a dotenv file or a secrets folder."""
        return (init_settings,)

    @field_validator("pass_marks", mode="before")
    @classmethod
    def _pass_marks_json(cls, value: Any) -> Any:
        value = _parse_json_object(value, "PASS_MARKS")
        if not isinstance(value, dict) or "default" not in value:
            raise ValueError('PASS_MARKS must be a JSON object with a "default" entry')
        return value

    @field_validator("pass_marks")
    @classmethod
    def _pass_marks_range(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for kind, mark in value.items():
            if not Decimal(0) <= mark <= Decimal(100):
                raise ValueError(f"PASS_MARKS[{kind!r}] must be between 0 and 100")
        return value

    @field_validator("score_bands", mode="before")
    @classmethod
    def _score_bands_json(cls, value: Any) -> Any:
        value = _parse_json_object(value, "SCORE_BANDS")
        if not isinstance(value, dict) or set(value) != set(BANDS):
            raise ValueError(f"SCORE_BANDS must be a JSON object with exactly the keys {list(BANDS)}")
        return value

    @field_validator("score_bands")
    @classmethod
    def _score_bands_order(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        bounds = [value[band] for band in BANDS]
        if bounds[0] != 0 or bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("SCORE_BANDS lower bounds must start at 0 and rise: weak < moderate < strong")
        return value

    @field_validator("stage_rules", mode="before")
    @classmethod
    def _stage_rules_json(cls, value: Any) -> Any:
        value = _parse_json_object(value, "STAGE_RULES")
        if not isinstance(value, dict):
            raise ValueError("STAGE_RULES must be a JSON object")
        from shared.rules import parse_stage_rules  # checked here so a bad rule stops the start

        parse_stage_rules(value)
        return value

    @field_validator("portal_base_url")
    @classmethod
    def _portal_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("PORTAL_BASE_URL must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _require_url(value, "DATABASE_URL", POSTGRES_SCHEMES, "postgresql://user@host:5432/db")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        return _require_url(value, "REDIS_URL", REDIS_SCHEMES, "redis://127.0.0.1:6379/0")

    @field_validator("key_vault_url")
    @classmethod
    def _key_vault_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _require_url(value, "KEY_VAULT_URL", ("https",), "https://my-vault.vault.azure.net")

    @field_validator("alert_webhook_url", "document_scan_url")
    @classmethod
    def _http_url(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        name = {"alert_webhook_url": "ALERT_WEBHOOK_URL", "document_scan_url": "DOCUMENT_SCAN_URL"}
        return _require_url(value, name[info.field_name], HTTP_SCHEMES, "https://hooks.example/...")

    @field_validator("documents_storage_service_uri")
    @classmethod
    def _documents_service_uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _require_url(
            value, "DocumentsStorage__serviceUri", HTTP_SCHEMES, "https://myaccount.blob.core.windows.net"
        )

    @field_validator("documents_storage")
    @classmethod
    def _documents_connection_string(cls, value: str | None) -> str | None:
        if value is None:
            return None
        keys = _connection_string_keys(value)
        if keys.get("usedevelopmentstorage") == "true":
            return value
        endpoint = keys.get("blobendpoint")
        if endpoint is not None and not re.match(r"^https?://[^/;]+", endpoint, re.IGNORECASE):
            raise ValueError("DocumentsStorage: BlobEndpoint must be an http(s) URL")
        if not ("blobendpoint" in keys or "accountname" in keys) or not (
            "accountkey" in keys or "sharedaccesssignature" in keys
        ):
            raise ValueError(
                "DocumentsStorage must be a storage connection string (AccountName=…;AccountKey=… or "
                "BlobEndpoint=…;SharedAccessSignature=…, or UseDevelopmentStorage=true); for a managed "
                "identity leave it unset and set DocumentsStorage__serviceUri"
            )
        return value

    @field_validator("applicationinsights_connection_string")
    @classmethod
    def _app_insights(cls, value: str | None) -> str | None:
        if value is not None and "instrumentationkey" not in _connection_string_keys(value):
            raise ValueError(
                "APPLICATIONINSIGHTS_CONNECTION_STRING must be the resource's connection string "
                "(InstrumentationKey=…;IngestionEndpoint=…)"
            )
        return value

    @field_validator("sync_replay_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.match(value.strip()):
            raise ValueError(
                "SYNC_REPLAY_SCHEDULE must be a 6-field NCRONTAB expression "
                "(second minute hour day month weekday, e.g. '* * * * * *') or a TimeSpan (hh:mm:ss)"
            )
        return value.strip()

    @model_validator(mode="after")
    def _connections_and_secrets(self) -> Settings:
        if not (self.service_bus_connection or self.service_bus_namespace):
            raise ValueError(
                "ServiceBusConnection (or ServiceBusConnection__fullyQualifiedNamespace) is required"
            )
        from shared.messaging.factory import choose_transport  # checks the form, names the setting

        try:
            choose_transport(self)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
        if not (self.documents_storage or self.documents_storage_service_uri):
            raise ValueError("DocumentsStorage (or DocumentsStorage__serviceUri) is required")
        if not self.key_vault_url:
            missing = [
                name
                for name, value in (
                    ("PORTAL_API_KEY", self.portal_api_key),
                    ("PORTAL_WEBHOOK_SECRETS", self.portal_webhook_secrets),
                )
                if value is None or not value.get_secret_value().strip()
            ]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required unless KEY_VAULT_URL is set")
        return self


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required and not set (an empty value counts as not set)"
        parts.append(f"{location}: {message}" if location != "settings" else message)
    return "; ".join(parts)


def is_set(value: str | None) -> bool:
    """DESIGN.md: an empty or blank value means "not set", for every setting."""
    return value is not None and value.strip() != ""


def setting(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """One setting from an environment-like mapping, empty meaning unset (for code that reads a
    single value before or outside :class:`Settings`: devhost, the bootstrap, telemetry)."""
    value = environ.get(name)
    return value if is_set(value) else default


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise :class:`ConfigurationError` naming what is wrong.

    ``environ`` (default ``os.environ``) is the only source; empty values in it are unset.
    """
    source = os.environ if environ is None else environ
    values = {name: value for name, value in source.items() if name in _ALIASES and is_set(value)}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid settings: {_describe(exc)}") from None


_ALIASES = frozenset(
    str(field.validation_alias) for field in Settings.model_fields.values() if field.validation_alias
)

#: Every setting name the app reads (the Settings model's aliases).
SETTING_NAMES: frozenset[str] = _ALIASES


def database_url(environ: Mapping[str, str]) -> str:
    """``DATABASE_URL`` alone, read and checked as :class:`Settings` reads and checks it.

    For tools that need only the database (``python -m ops``): demanding every app setting of
    an operator who wants to list failed events would be wrong. Raises
    :class:`ConfigurationError` naming the setting when it is unset, empty or malformed; never
    echoes the value (it may hold a password).
    """
    value = setting(environ, "DATABASE_URL")
    if value is None:
        raise ConfigurationError("DATABASE_URL is required and not set (an empty value counts as not set)")
    try:
        return _require_url(value, "DATABASE_URL", POSTGRES_SCHEMES, "postgresql://user@host:5432/db")
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The worker's settings, read once from ``os.environ``."""
    return load_settings(os.environ)
