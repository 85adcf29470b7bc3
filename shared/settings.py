"""One typed settings object, read from the environment and validated at start.

Names and defaults are DESIGN.md's table. Under Core Tools and devhost the values come from
``local.settings.json`` ``Values`` (devhost never overrides what the environment already sets).
A missing or malformed setting raises :class:`ConfigurationError` naming the setting, so a
misconfigured worker fails at start rather than on its first message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigurationError

BANDS = ("weak", "moderate", "strong")


def _parse_json_object(value: Any, setting: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{setting} is not valid JSON: {exc.msg}") from None
    return value


class Settings(BaseSettings):
    """Every setting of DESIGN.md; field aliases are the exact environment variable names."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", populate_by_name=False)

    database_url: str = Field(validation_alias="DATABASE_URL")
    # entra: the password is an Entra ID token fetched per new connection (shared/db_auth.py).
    database_auth: Literal["password", "entra"] = Field(default="password", validation_alias="DATABASE_AUTH")
    redis_url: str = Field(validation_alias="REDIS_URL")
    # entra: AUTH with the identity's object id and an Entra ID token, renewed on open connections.
    redis_auth: Literal["password", "entra"] = Field(default="password", validation_alias="REDIS_AUTH")
    redis_key_prefix: str = Field(default="portal:", validation_alias="REDIS_KEY_PREFIX")
    azure_webjobs_storage: str = Field(validation_alias="AzureWebJobsStorage")
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
    sync_replay_schedule: str | None = Field(default=None, validation_alias="SYNC_REPLAY_SCHEDULE")
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

    @model_validator(mode="after")
    def _connections_and_secrets(self) -> Settings:
        if not (self.service_bus_connection or self.service_bus_namespace):
            raise ValueError(
                "ServiceBusConnection (or ServiceBusConnection__fullyQualifiedNamespace) is required"
            )
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
        parts.append(f"{location}: {message}" if location != "settings" else message)
    return "; ".join(parts)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate the settings; raise :class:`ConfigurationError` naming what is wrong.

    ``environ`` defaults to ``os.environ``; tests pass their own mapping.
    """
    source = dict(os.environ if environ is None else environ)
    try:
        # Values are passed explicitly so that a test's mapping is the only source.
        # An empty value means "not set": local.settings.json lists optional settings as "".
        return Settings.model_validate({k: v for k, v in source.items() if k in _ALIASES and v.strip() != ""})
    except ValidationError as exc:
        raise ConfigurationError(f"invalid settings: {_describe(exc)}") from None


_ALIASES = frozenset(
    str(field.validation_alias) for field in Settings.model_fields.values() if field.validation_alias
)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The worker's settings, read once from ``os.environ``."""
    return load_settings()
