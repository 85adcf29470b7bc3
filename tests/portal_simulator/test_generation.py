"""Generated events keep every rule of the contract; ``--invalid`` events break exactly the one
rule their label names. Checked by an independent reading of the contract (contract_checker)."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from portal_simulator import SimulatorConfig
from portal_simulator.events import EVENT_TYPES
from portal_simulator.generation import EventsRequest
from portal_simulator.invalid import CASES, InvalidCase
from portal_simulator.simulator import Simulator
from tests.portal_simulator.contract_checker import violations

pytestmark = pytest.mark.unit


@pytest.fixture(params=[7, 2026])
def simulator(request: pytest.FixtureRequest) -> Simulator:
    """A simulator that is not served: generation needs no network."""
    return Simulator(SimulatorConfig(public_url="https://portal.test"), data_rng=random.Random(request.param))


def generate(simulator: Simulator, event_type: str, **options: Any) -> list[dict[str, Any]]:
    events = simulator.generator.batch(EventsRequest(type=event_type, deliver=False, **options))
    return [
        {"event": e.envelope, "duplicate": e.duplicate, "invalid": e.invalid.label() if e.invalid else None}
        for e in events
    ]


def test_generated_events_of_every_type_satisfy_every_contract_rule(simulator: Simulator) -> None:
    for event_type in EVENT_TYPES:
        items = generate(simulator, event_type, count=15)
        assert len(items) == 15
        for item in items:
            envelope = item["event"]
            assert envelope["type"] == event_type
            assert violations(envelope, simulator.state.public_url) == [], json.dumps(envelope)[:600]


def test_generated_profiles_are_varied(simulator: Simulator) -> None:
    items = generate(simulator, "candidate.created", count=40)
    profiles = [item["event"]["data"]["candidate"] for item in items]
    assert len({p["id"] for p in profiles}) == 40
    assert len({p["last_name"] for p in profiles}) > 10
    assert len({p["location"]["country"] for p in profiles if "location" in p}) > 5
    assert any(len(p["work_history"]) >= 2 for p in profiles)
    assert any(any(job["current"] for job in p["work_history"]) for p in profiles)
    assert any("phone" not in p for p in profiles)
    assert any("phone" in p for p in profiles)
    assert any(not p["updated_at"].endswith("Z") for p in profiles), "some times carry a non-UTC offset"


def test_scores_are_json_numbers_with_decimals(simulator: Simulator) -> None:
    items = generate(simulator, "screening.completed", count=20)
    scores = [item["event"]["data"]["screening"]["score"] for item in items]
    assert all(isinstance(score, int | float) and not isinstance(score, bool) for score in scores)
    assert any(score != int(score) for score in scores)
    assert {item["event"]["data"]["screening"]["recommendation"] for item in items} >= {"advance", "review"}


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.rule}-{case.types[0]}")
def test_each_invalid_event_breaks_exactly_the_rule_it_claims(
    simulator: Simulator, case: InvalidCase
) -> None:
    for event_type in case.types:
        (item,) = generate(simulator, event_type, invalid=True, invalid_rule=case.rule)
        assert item["invalid"] == case.label()
        assert violations(item["event"], simulator.state.public_url) == [(case.field, case.status)], item[
            "invalid"
        ]


def test_invalid_generation_covers_every_type(simulator: Simulator) -> None:
    for event_type in EVENT_TYPES:
        items = generate(simulator, event_type, count=6, invalid=True)
        for item in items:
            label = item["invalid"]
            assert violations(item["event"], simulator.state.public_url) == [
                (label["field"], label["status"])
            ]


def test_invalid_candidate_profiles_are_not_stored(simulator: Simulator) -> None:
    items = generate(simulator, "candidate.created", count=5, invalid=True)
    stored = {c["id"] for c in simulator.state.candidates.values()}
    for item in items:
        candidate = item["event"]["data"]["candidate"]
        assert candidate["id"] not in stored


def test_duplicates_repeat_the_same_id_and_shuffle_changes_the_order(simulator: Simulator) -> None:
    items = generate(simulator, "screening.completed", count=30, duplicate_rate=0.5, shuffle=True)
    ids = [item["event"]["id"] for item in items]
    counts = Counter(ids)
    duplicates = [item for item in items if item["duplicate"]]
    assert len(items) == 30 + len(duplicates)
    assert duplicates
    assert all(counts[item["event"]["id"]] == 2 for item in duplicates)
    # unshuffled, a duplicate follows its original; shuffled, at least one does not
    adjacent = [ids[n - 1] == ids[n] for n, item in enumerate(items) if item["duplicate"] and n > 0]
    assert not all(adjacent)


def test_an_unknown_event_type_is_generated_with_opaque_data(simulator: Simulator) -> None:
    (item,) = generate(simulator, "survey.answered")
    assert item["event"]["type"] == "survey.answered"
    assert item["event"]["data"]
