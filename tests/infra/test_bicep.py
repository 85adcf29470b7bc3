"""The Bicep deploys what the code expects: every setting, queue, container and secret name.

Read at test time from the code (the ``Settings`` model's aliases, ``QUEUES``, ``SECRET_NAMES``,
the documents container default), so a setting or queue added later is checked too. The Bicep
is parsed with pycep-parser from the IaC virtual environment (``make iac`` creates it), the same
parser checkov uses; a file that does not parse fails here as well.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.messaging.port import QUEUES
from shared.secrets import SECRET_NAMES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
IAC_PYTHON = ROOT / ".venv" / "iac" / "bin" / "python"
OPERATIONS = ROOT / "docs" / "operations.md"
OPTIONAL_HEADING = "### Optional settings"


@cache
def bicep() -> dict[str, Any]:
    if not IAC_PYTHON.exists():
        pytest.fail(
            f"the IaC virtual environment is missing ({IAC_PYTHON.relative_to(ROOT)}): run `make iac`",
            pytrace=False,
        )
    result = subprocess.run(
        [str(IAC_PYTHON), "infra/tools/bicep_facts.py", "infra"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"Bicep does not parse:\n{result.stderr}", pytrace=False)
    facts: dict[str, Any] = json.loads(result.stdout)
    return facts


def app_settings() -> dict[str, Any]:
    settings: dict[str, Any] = bicep()["variables"]["main.bicep"]["appSettings"]
    return settings


def aliases() -> set[str]:
    return {str(field.validation_alias) for field in Settings.model_fields.values() if field.validation_alias}


def documented_optional() -> set[str]:
    """Setting names in the first column of docs/operations.md's optional settings table."""
    text = OPERATIONS.read_text(encoding="utf-8")
    start = text.index(OPTIONAL_HEADING)
    section = text[start + len(OPTIONAL_HEADING) :]
    section = section[: section.find("\n#")] if "\n#" in section else section
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split("|")[1]))
    return names


def _set_by_bicep(alias: str, keys: set[str]) -> bool:
    # An identity-based form sets the connection too: AzureWebJobsStorage__accountName,
    # ServiceBusConnection__fullyQualifiedNamespace, DocumentsStorage__serviceUri.
    return alias in keys or any(key.startswith(alias + "__") for key in keys)


def test_every_setting_the_app_reads_is_set_by_the_bicep_or_documented_optional():
    keys = set(app_settings())
    missing = sorted(
        alias for alias in aliases() if not _set_by_bicep(alias, keys) and alias not in documented_optional()
    )
    assert missing == [], (
        f"settings neither in infra/main.bicep appSettings nor in {OPERATIONS.name}'s "
        f"'{OPTIONAL_HEADING}' table: {missing}"
    )


#: Settings the Functions host reads, not the app (DESIGN.md: the app's code does not need them).
HOST_SETTINGS = frozenset({"AzureWebJobsStorage"})


def test_every_bicep_app_setting_is_one_the_app_or_host_reads():
    known = aliases() | HOST_SETTINGS
    unknown = sorted(
        key for key in app_settings() if not any(key == a or key.startswith(a + "__") for a in known)
    )
    assert unknown == [], f"app settings in infra/main.bicep that no Settings field reads: {unknown}"


def test_the_documented_optional_settings_exist():
    stale = sorted(documented_optional() - aliases())
    assert stale == [], f"{OPERATIONS.name} lists optional settings the app does not read: {stale}"


def test_azure_gets_the_identity_forms_and_the_replay_schedule():
    settings = app_settings()
    assert settings["DATABASE_AUTH"] == "entra"
    assert settings["REDIS_AUTH"] == "entra"
    assert "SYNC_REPLAY_SCHEDULE" in settings  # the host resolves %SYNC_REPLAY_SCHEDULE% only from settings
    for secret_form in ("ServiceBusConnection", "DocumentsStorage", "AzureWebJobsStorage", "PORTAL_API_KEY"):
        assert secret_form not in settings, f"{secret_form} would hold a key; Azure uses the identity form"
    # Flex Consumption takes the runtime from functionAppConfig and refuses these.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & set(settings)


def test_every_queue_in_the_code_is_created():
    facts = bicep()
    assert set(facts["variables"]["modules/servicebus.bicep"]["queueNames"]) == set(QUEUES)
    queues = facts["resources"]["modules/servicebus.bicep"]["queues"]
    assert (queues["type"], queues["loop_over"]) == ("Microsoft.ServiceBus/namespaces/queues", "queueNames")


def test_every_secret_name_in_the_code_is_in_the_vault():
    facts = bicep()
    assert set(facts["variables"]["modules/keyvault.bicep"]["secretNames"]) == set(SECRET_NAMES)
    secrets = facts["resources"]["modules/keyvault.bicep"]["secrets"]
    assert (secrets["type"], secrets["loop_over"]) == ("Microsoft.KeyVault/vaults/secrets", "secretNames")


def test_the_documents_container_is_created():
    facts = bicep()
    default = Settings.model_fields["documents_container"].default
    assert facts["variables"]["main.bicep"]["documentsContainer"] == default == "candidate-documents"
    containers = facts["resources"]["modules/storage.bicep"]["blobContainers"]
    assert (containers["type"], containers["loop_over"]) == (
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "containers",
    )
