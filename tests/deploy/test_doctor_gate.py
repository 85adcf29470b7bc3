"""The doctor gate (scripts/doctor_gate.py): what it lets through and what fails `make test`.

`make test` runs the gate on the project itself; these tests feed it reports to show that it
fails on what it should, and keep its allow-list, the docs and the doctor's scope in step.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import PurePosixPath

import pytest

from scripts.doctor_gate import ALLOWED, MUST_PASS, judge
from tests.deploy.package import FUNCIGNORE, REPO, package_by_core_tools, project_files

BINDINGS = (
    "Binding connections reference unconfigured settings:\n"
    "  - ServiceBusConnection (event_processor/__init__.py:process_portal_events)\n"
    "Add the missing app setting(s), or configure an identity-based connection group "
    "(<name>__serviceUri / <name>__accountName). (optional)"
)


def _item(rule_id: str, status: str = "pass", value: str = "fine") -> dict:
    return {"rule_id": rule_id, "status": status, "value": value}


def _report(*items: dict) -> dict:
    passing = [_item(rule_id) for rule_id in MUST_PASS]
    return {"metadata": {"programming_model": "v2"}, "results": [{"items": [*passing, *items]}]}


def test_a_clean_report_with_explained_warnings_passes() -> None:
    explained, problems = judge(
        _report(
            _item("check_func_cli", "warn", "func not found (optional)"),
            _item("check_binding_connection_resolution", "warn", BINDINGS),
            _item("check_durabletask_config", "skip", "No Durable Functions usage detected"),
        ),
        0,
    )
    assert problems == []
    assert [line.split(":")[0] for line in explained] == [
        "check_func_cli",
        "check_binding_connection_resolution",
    ]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (_item("check_funcignore_new_rule", "warn", "something new"), "check_funcignore_new_rule (warn)"),
        # an allowed rule whose text changed: a connection nobody has explained yet
        (
            _item(
                "check_binding_connection_resolution",
                "warn",
                BINDINGS.replace("ServiceBus", "DocumentsStorage", 1),
            ),
            "check_binding_connection_resolution (warn)",
        ),
        # an allowed rule that fails as a required check is never explained away
        (_item("check_func_cli", "fail", "func not found (optional)"), "check_func_cli (fail)"),
        (
            _item("check_host_json_version", "fail", 'host.json version is "1.0"'),
            "check_host_json_version (fail)",
        ),
    ],
)
def test_unexplained_findings_fail_the_gate(item, problem) -> None:
    _, problems = judge(_report(item), 0)
    assert [line for line in problems if line.startswith(problem)], problems


def test_a_doctor_that_failed_or_looked_at_nothing_fails_the_gate() -> None:
    assert judge(_report(), 1)[1] == ["the doctor exited 1"]
    not_v2 = _report()
    not_v2["metadata"]["programming_model"] = "v1"
    assert judge(not_v2, 0)[1] == ["the doctor did not recognise the v2 programming model (it saw 'v1')"]
    skipped = copy.deepcopy(_report())
    skipped["results"][0]["items"][0]["status"] = "skip"
    assert judge(skipped, 0)[1] == [f"{MUST_PASS[0]} did not pass"]
    assert "the doctor did not recognise the v2 programming model (it saw None)" in judge({}, 0)[1]


def test_every_allowed_warning_is_explained_in_the_operations_guide() -> None:
    guide = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = guide.split("## Deployment checks", 1)[1].split("\n## ", 1)[0]
    assert [allowance.rule_id for allowance in ALLOWED if f"`{allowance.rule_id}`" not in section] == []


def test_the_doctor_looks_at_all_deployed_code_and_at_no_other() -> None:
    """pyproject's doctor `exclude` and .funcignore name the same code folders."""
    excluded = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["azure-functions-doctor"]["exclude"]
    )
    files = project_files()
    shipped = {PurePosixPath(path).parts[0] for path in package_by_core_tools(files, FUNCIGNORE.read_text())}
    code_left_out = {
        PurePosixPath(path).parts[0]
        for path in files
        if path.endswith(".py") and PurePosixPath(path).parts[0] not in shipped
    }
    assert code_left_out <= excluded
    assert not excluded & shipped
