"""Run azure-functions-doctor (``--profile full``) on the project; fail on any finding not explained.

Some of the doctor's optional checks warn about things that are true of a checkout but are not
faults of what deploys (no Core Tools on this machine, app settings that live in Azure). Each
such warning is allowed below, with its reason, only while its text is the one expected; the
reasons are explained in docs/operations.md ("Deployment checks"). Anything else fails
``make test``: a required check that fails, a warning not in the table, an allowed warning whose
text changed (a new connection name, another log category), or a doctor that did not run the
v2 checks at all.

    python scripts/doctor_gate.py [PROJECT_DIR]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Azure's runtime for this app (the Makefile insists on the same Python locally).
TARGET_PYTHON = "3.11"


@dataclass(frozen=True, slots=True)
class Allowance:
    rule_id: str
    value: re.Pattern[str]
    reason: str


_NO_CORE_TOOLS = "Core Tools (func) is not installed here (it needs .NET); devhost runs the app locally"

ALLOWED: tuple[Allowance, ...] = (
    Allowance(
        "check_programming_model_v2",
        re.compile(r"Keyword '@app\.\|@bp\.' not found in source code \(AST\) \(optional\)"),
        "the doctor's AST search looks at `def` only, and every function here is `async def`"
        " (the v2 model is still required below: the report's metadata and blueprint registration)",
    ),
    Allowance("check_func_cli", re.compile(r"func not found.*"), _NO_CORE_TOOLS),
    Allowance("check_func_core_tools_version", re.compile(r"func: not_installed.*"), _NO_CORE_TOOLS),
    Allowance(
        "check_local_settings",
        re.compile(r".*local\.settings\.json not found.*"),
        "local.settings.json is never committed; `make run` creates it from local.settings.sample.json",
    ),
    Allowance(
        "check_binding_connection_resolution",
        re.compile(
            r"Binding connections reference unconfigured settings:(\n  - ServiceBusConnection \([^)\n]+\))+"
            r"\nAdd the missing app setting\(s\)[^\n]*"
        ),
        "ServiceBusConnection is an app setting of the Function App; locally local.settings.json has it",
    ),
    Allowance(
        "check_app_insights",
        re.compile(r"Application Insights is not configured.*"),
        "APPLICATIONINSIGHTS_CONNECTION_STRING is an app setting in Azure; locally nothing is exported",
    ),
    Allowance(
        "check_host_json_log_level_conflict",
        re.compile(
            r"host\.json logLevel category overrides conflict with the default level:"
            r"\n- Function=Information is more verbose than default=Warning"
            r"\n- Host\.Results=Information is more verbose than default=Warning(\n.*)?",
            re.DOTALL,
        ),
        "deliberate: host and SDK noise at Warning, the app's own logs and invocation results at Information",
    ),
)

#: Checks that must pass, so that a doctor which silently looked at nothing cannot pass the gate.
MUST_PASS = (
    "check_blueprint_registration",
    "check_python_version",
    "check_python_runtime_lifecycle",
    "check_requirements_txt",
    "check_azure_functions_library",
    "check_unpinned_requirements",
    "check_host_json_version",
    "check_extension_bundle_v4",
    "check_funcignore",
    "check_unused_files",
    "check_dev_storage_connection",
)

_QUIET = frozenset({"pass", "skip"})


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    status: str
    value: str

    def line(self) -> str:
        return f"{self.rule_id} ({self.status}): {self.value}"


def findings(report: Mapping[str, Any]) -> Iterator[Finding]:
    for section in report.get("results", []):
        for item in section.get("items", []):
            yield Finding(str(item.get("rule_id")), str(item.get("status")), str(item.get("value", "")))


def allowance_for(finding: Finding, allowed: tuple[Allowance, ...] = ALLOWED) -> Allowance | None:
    if finding.status != "warn":
        return None
    for allowance in allowed:
        if allowance.rule_id == finding.rule_id and allowance.value.fullmatch(finding.value):
            return allowance
    return None


def judge(report: Mapping[str, Any], exit_code: int) -> tuple[list[str], list[str]]:
    """(explained findings, problems) of one doctor run."""
    explained: list[str] = []
    problems: list[str] = []
    if exit_code != 0:
        problems.append(f"the doctor exited {exit_code}")
    model = report.get("metadata", {}).get("programming_model")
    if model != "v2":
        problems.append(f"the doctor did not recognise the v2 programming model (it saw {model!r})")
    every = list(findings(report))
    passed = {finding.rule_id for finding in every if finding.status == "pass"}
    problems.extend(f"{rule_id} did not pass" for rule_id in MUST_PASS if rule_id not in passed)
    for finding in every:
        if finding.status in _QUIET:
            continue
        allowance = allowance_for(finding)
        if allowance is None:
            problems.append(finding.line())
        else:
            explained.append(f"{finding.rule_id}: {allowance.reason}")
    return explained, problems


def run_doctor(project: Path) -> tuple[Mapping[str, Any], int, str]:
    """The doctor's JSON report, exit code and error output.

    The doctor recognises a virtual environment only by ``VIRTUAL_ENV``; make calls ``.venv/bin``
    directly without activating it, so the variable is set here when this runs inside one.
    """
    environment = dict(os.environ)
    if sys.prefix != sys.base_prefix:
        environment["VIRTUAL_ENV"] = sys.prefix
    doctor = Path(sys.executable).with_name("azure-functions-doctor")
    command = [str(doctor), "doctor", "--path", str(project), "--profile", "full"]
    command += ["--target-python", TARGET_PYTHON, "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False, timeout=300)
    try:
        report: Mapping[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    return report, done.returncode, done.stderr


def main(argv: list[str]) -> int:
    project = Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    report, exit_code, errors = run_doctor(project)
    explained, problems = judge(report, exit_code)
    for line in explained:
        print(f"doctor: explained  {line}")
    for line in problems:
        print(f"doctor: PROBLEM    {line}")
    if problems:
        if errors.strip():
            print(errors.strip(), file=sys.stderr)
        print(
            "doctor: fix these, or explain them in scripts/doctor_gate.py and docs/operations.md",
            file=sys.stderr,
        )
        return 1
    passed = sum(1 for finding in findings(report) if finding.status == "pass")
    print(f"doctor: {passed} checks passed, {len(explained)} warnings explained, none unexplained")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
