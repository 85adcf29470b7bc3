"""host.json as editors check it, and as the Service Bus extension and devhost read it.

``host_json.schema.json`` restates, for each key the app sets, what SchemaStore's host.json
schema demands (see its ``$comment`` for why it is not SchemaStore's file itself).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import jsonschema
import pytest

from devhost.host_config import load_host_config, parse_timespan
from tests.deploy.package import REPO

HOST_JSON = REPO / "host.json"
SCHEMA = json.loads((REPO / "tests" / "deploy" / "host_json.schema.json").read_text(encoding="utf-8"))
#: The extension refuses to start above this (half the longest message lock).
LONGEST_BATCH_WAIT = timedelta(minutes=2, seconds=30)


def _errors(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _host() -> dict:
    return json.loads(HOST_JSON.read_text(encoding="utf-8"))


def test_the_schema_is_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_host_json_passes_the_schema() -> None:
    assert _errors(_host()) == []


def _with_service_bus(**changes: object) -> dict:
    document = copy.deepcopy(_host())
    bus = document["extensions"]["serviceBus"]
    for key, value in changes.items():
        if value is None:
            bus.pop(key, None)
        else:
            bus[key] = value
    return document


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        # The value host.json had: sub-second waits fail the editors' time pattern.
        (
            {"minMessageBatchSize": 10, "maxBatchWaitTime": "00:00:00.200"},
            "extensions/serviceBus/maxBatchWaitTime",
        ),
        # A wait with a minimum of 1 does nothing at all.
        (
            {"minMessageBatchSize": 1, "maxBatchWaitTime": "00:00:01"},
            "extensions/serviceBus/minMessageBatchSize",
        ),
        ({"maxBatchWaitTime": "00:00:01"}, "extensions/serviceBus"),
        ({"minMessageBatchSize": 10}, "extensions/serviceBus"),
        ({"maxMessageBatchSze": 100}, "extensions/serviceBus"),
        ({"maxAutoLockRenewalDuration": "5m"}, "extensions/serviceBus/maxAutoLockRenewalDuration"),
        ({"maxConcurrentCalls": 0}, "extensions/serviceBus/maxConcurrentCalls"),
        ({"clientRetryOptions": {"delay": "00:00:01"}}, "extensions/serviceBus/clientRetryOptions/delay"),
    ],
)
def test_the_schema_refuses_what_editors_or_the_extension_would(changes, where) -> None:
    errors = _errors(_with_service_bus(**changes))
    assert [error for error in errors if error.startswith(where + ":")], errors


@pytest.mark.parametrize(
    ("key", "value"),
    [("functionTimeout", "5 minutes"), ("version", "3.0"), ("telemetryMode", "Otel"), ("aggregator", {})],
)
def test_the_schema_refuses_bad_top_level_values(key, value) -> None:
    document = _host()
    document[key] = value
    assert _errors(document) != []


def test_batching_with_a_real_minimum_and_a_whole_second_wait_is_accepted() -> None:
    """The documented alternative to today's choice (docs/operations.md) stays valid."""
    assert _errors(_with_service_bus(minMessageBatchSize=20, maxBatchWaitTime="00:00:01")) == []


def test_batch_limits_the_extension_checks_at_start_hold() -> None:
    bus = _host()["extensions"]["serviceBus"]
    assert bus.get("minMessageBatchSize", 1) < bus["maxMessageBatchSize"]
    wait = parse_timespan(bus.get("maxBatchWaitTime", "00:00:30"), where="maxBatchWaitTime")
    assert wait <= LONGEST_BATCH_WAIT


def test_devhost_reads_the_projects_host_json() -> None:
    config = load_host_config(HOST_JSON)
    bus = _host()["extensions"]["serviceBus"]
    assert config.route_prefix == "api"
    assert config.service_bus.max_message_batch_size == bus["maxMessageBatchSize"] == 100
    assert config.service_bus.max_concurrent_calls == bus["maxConcurrentCalls"]
    assert config.service_bus.max_auto_lock_renewal == timedelta(minutes=5)
    assert config.service_bus.auto_complete is True
