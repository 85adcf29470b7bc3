"""The Azure Monitor side (infra/monitoring) watches what the app really exports: every metric
name a rule or the workbook queries is one the code emits, and the issue's conditions each have
a rule wired into main.bicep."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.health.samples import HELP, PREFIX
from tests.infra.test_bicep import bicep

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "infra" / "monitoring"

#: In-process counters (shared/metrics.py callers) the queries use.
COUNTERS = {
    "deliveries_accepted",
    "deliveries_already_processed",
    "deliveries_rejected",
    "deliveries_unqueued",
}


def queried_metric_names(text: str) -> set[str]:
    names = set(re.findall(r'name == \\?"([a-z_]+)\\?"', text))
    for group in re.findall(r"name in \(([^)]*)\)", text):
        names.update(re.findall(r'\\?"([a-z_]+)\\?"', group))
    return names


def test_every_metric_the_rules_and_the_workbook_query_is_emitted_by_the_app():
    emitted = {PREFIX + name for name in HELP} | COUNTERS
    workbook = (MONITORING / "workbook.json").read_text(encoding="utf-8")
    rules = (MONITORING / "monitoring.bicep").read_text(encoding="utf-8")
    queried = queried_metric_names(workbook) | queried_metric_names(rules)
    assert queried, "no metric name found: the pattern no longer matches the queries"
    assert queried <= emitted, f"queried but never emitted: {sorted(queried - emitted)}"


def test_the_workbook_is_a_workbook():
    workbook = json.loads((MONITORING / "workbook.json").read_text(encoding="utf-8"))
    assert workbook["version"] == "Notebook/1.0"
    queries = [item for item in workbook["items"] if item["type"] == 3]
    assert all(item["content"]["timeContextFromParameter"] == "TimeRange" for item in queries)
    assert len(queries) >= 10


def test_each_condition_of_the_issue_has_a_rule():
    rules = (MONITORING / "monitoring.bicep").read_text(encoding="utf-8")
    for rule in (
        "delivery-success-low",
        "latency-p99-high",
        "circuit-open",
        "sync-rows-failed",
        "document-rejected",
        "signature-failures-spike",
    ):
        assert f"name: '{rule}'" in rules, rule
    assert "metricName: 'DeadletteredMessages'" in rules
    # the ALERT lines the log rules look for are the alert kinds the flows raise
    assert 'startswith "ALERT sync_failed"' in rules
    assert 'startswith "ALERT document_rejected"' in rules


def test_main_wires_the_monitoring_module():
    facts = bicep()
    assert "monitoring/monitoring.bicep" in facts["files"]
    resources = facts["resources"]["monitoring/monitoring.bicep"]
    assert resources["queryRules"]["loop_over"] == "rules"
    assert resources["workbook"]["type"] == "Microsoft.Insights/workbooks"
    main = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    assert "module monitoring 'monitoring/monitoring.bicep'" in main
