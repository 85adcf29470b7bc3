"""The two sides of the contract check each other: every invalid event the simulator makes (one
broken rule at a time, labelled with the status and field the contract requires) gets exactly
that answer from the app's receiver, and every valid one it makes is accepted."""

from __future__ import annotations

import json
import re

import pytest

from portal_simulator.invalid import CASES
from tests.support import events as ev

EVENT_TYPES = sorted({t for case in CASES for t in case.types})


def app_path(label: str) -> str:
    """The simulator labels list items as segments (a.0.b); the app names them a[0].b."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", label)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
async def test_every_invalid_case_gets_the_status_and_field_the_contract_requires(
    pipeline, portal, event_type
):
    items = []
    for case in [c for c in CASES if event_type in c.types]:
        items += await portal.admin.generate_events(
            event_type, count=1, invalid=True, invalid_rule=case.rule, deliver=False
        )
    assert items
    for item in items:
        label = item["invalid"]
        headers, body = ev.signed(pipeline.secret, item["event"])
        answer = await pipeline.runtime.receiver.receive(headers, body)
        assert answer.status == label["status"], (label, answer.body)
        if label["status"] == 422 and label["field"]:
            fields = [e["field"] for e in json.loads(answer.body)["errors"]]
            assert app_path(label["field"]) in fields, (label, fields)
    assert await pipeline.queued() == []


@pytest.mark.parametrize("event_type", EVENT_TYPES)
async def test_every_valid_event_the_simulator_makes_is_accepted(pipeline, portal, event_type):
    items = await portal.admin.generate_events(event_type, count=5, deliver=False)
    for item in items:
        headers, body = ev.signed(pipeline.secret, item["event"])
        answer = await pipeline.runtime.receiver.receive(headers, body)
        assert answer.status == 202, answer.body
