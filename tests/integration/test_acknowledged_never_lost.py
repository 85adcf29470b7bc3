"""Property: whatever the receiver acknowledges ends in ``webhook_events`` in a final state.

Valid events of every type are mutated one field at a time (any JSON value, strings with NUL
and lone surrogates, huge and non-finite numbers, deep nesting, unknown fields, a field
removed), signed, and sent through the real receiver beside valid events; the real processor
then drains ``portal-events`` (scheduled re-sends included) against real PostgreSQL, Redis and
the portal simulator. For every delivery: refused with a 4xx, or recorded ``processed``,
``failed`` or ``ignored``; every valid event processed; no dead letter anywhere.

A bounded run is part of ``make test``; ``make fuzz`` runs the long one
(``HYPOTHESIS_PROFILE=fuzz``). The run must show, with ``hypothesis.event`` and at its end,
that at least 30 % of the mutated deliveries were accepted and that every poison class was
generated.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from portal_simulator.testing import running_simulator_in_thread
from shared.messaging import PORTAL_EVENTS
from shared.runtime import Runtime
from tests.support import events as ev
from tests.support.events import sign
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.timeout(3600)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "bounded")
EXAMPLES = {"bounded": 60, "fuzz": 1000}[PROFILE]

#: Raw JSON text standing in for a value, one per poison class the receiver must refuse.
POISON: dict[str, st.SearchStrategy[str]] = {
    "nul": st.sampled_from(['"a\\u0000b"', '"\\u0000"', '"x\\u0000"']),
    "lone_surrogate": st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\udbff"']),
    "non_finite": st.sampled_from(["NaN", "Infinity", "-Infinity"]),
    "huge_number": st.sampled_from(["1e400", "-1e400", "1e131073", "1" + "0" * 400]),
    "deep_nesting": st.integers(33, 1000).map(lambda depth: "[" * depth + "]" * depth),
}
PLACEHOLDER = "__mutated_value__"
HOW_POISON = ("add_field", "replace")
HOW_BENIGN = ("add_field", "add_field", "replace", "add_field", "remove", "add_field")

#: Text that is storable as it is: the benign values (the poison classes above are the others).
SAFE_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | SAFE_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(SAFE_TEXT, children, max_size=4),
    max_leaves=8,
)


def _valid_events(portal: str) -> list[dict[str, Any]]:
    """One valid event of every type, about one new candidate (its profile first)."""
    cand = ev.candidate()
    cid, request_id, offer_id = cand["id"], str(uuid.uuid4()), str(uuid.uuid4())
    return [
        ev.profile_event(cand),
        ev.profile_event({**cand, "updated_at": ev.at(9)}, kind="candidate.updated", created=9),
        ev.screening_event(cid, 81.5, created=1),
        ev.assessment_event(cid, 70, created=2),
        ev.assessment_event(cid, failed=True, created=2),
        ev.document_event(cid, portal=portal, created=3),
        ev.interview_event(cid, request_id, created=4),
        ev.interview_event(cid, str(uuid.uuid4()), "declined", created=4),
        ev.interview_event(cid, str(uuid.uuid4()), "cancelled", created=4),
        ev.offer_event(cid, offer_id, created=5),
        ev.offer_event(cid, str(uuid.uuid4()), "declined", created=5),
        ev.withdrawn_event(cid, created=6),
        ev.envelope("portal.something_new", {"note": "a type this version does not know"}),
    ]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (object keys and list indexes), the root excluded."""
    found: list[tuple[Any, ...]] = []
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _containers(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if isinstance(value, dict) else []
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        found.extend(_containers(child, (*prefix, key)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


@st.composite
def mutations(draw: st.DrawFn, valid: dict[str, Any], kind: str, how: str) -> tuple[str, bytes, str]:
    """One valid event mutated once: a field added or replaced with a value of ``kind`` (a poison
    class, or ``json``: any JSON value), or removed: (its webhook id, the body, its label)."""
    mutated = copy.deepcopy(valid)
    mutated["id"] = ev.uid("evt_")  # its own event, not a repeat of the valid one
    if how == "remove":
        path = draw(st.sampled_from(_paths(mutated)))
        del _at(mutated, path[:-1])[path[-1]]
        return _signed_parts(mutated, json.dumps(mutated), "remove")
    if how == "add_field":
        container = draw(st.sampled_from(_containers(mutated)))
        _at(mutated, container)[draw(st.sampled_from(["x_extra", "notes", "ünïcode"]))] = PLACEHOLDER
    else:
        path = draw(st.sampled_from(_paths(mutated)))
        _at(mutated, path[:-1])[path[-1]] = PLACEHOLDER
    raw = draw(POISON[kind]) if kind in POISON else json.dumps(draw(JSON_VALUES))
    text = json.dumps(mutated).replace(json.dumps(PLACEHOLDER), raw, 1)
    return _signed_parts(mutated, text, f"{how}:{kind}")


def _signed_parts(mutated: dict[str, Any], text: str, label: str) -> tuple[str, bytes, str]:
    webhook_id = mutated["id"] if isinstance(mutated.get("id"), str) and mutated["id"] else ev.uid("evt_")
    return webhook_id, text.encode("utf-8", errors="surrogatepass"), label


async def _drain_all(pipeline: Pipeline) -> None:
    """Until no message is left on portal-events; scheduled re-sends are brought forward instead
    of slept through (the local queue's visibility time, nothing else, is moved)."""
    for _ in range(200):
        await pipeline.drain()
        if not await pipeline.queued():
            return
        async with pipeline.queue_pool.connection() as conn:
            await conn.execute(
                "UPDATE devhost.messages SET visible_at = now() WHERE queue = %s AND lock_token IS NULL",
                (PORTAL_EVENTS,),
            )
    raise AssertionError("portal-events never emptied")


async def _send_and_apply(
    pipeline: Pipeline, valid: list[dict[str, Any]], mutated: list[tuple[str, bytes, str]]
) -> tuple[list[int], dict[str, str]]:
    """Send the valid and the mutated deliveries through the receiver, drain; the mutated
    deliveries' answers and what webhook_events holds for every event id sent."""
    for event_ in valid:
        body = ev.body_of(event_)
        answer = await pipeline.runtime.receiver.receive(sign(pipeline.secret, event_["id"], body), body)
        assert answer.status == 202, (answer.status, answer.body)
    statuses = []
    for webhook_id, body, _ in mutated:
        answer = await pipeline.runtime.receiver.receive(sign(pipeline.secret, webhook_id, body), body)
        statuses.append(answer.status)
    await _drain_all(pipeline)
    assert await pipeline.receiver.dead_letters(PORTAL_EVENTS) == []
    ids = [e["id"] for e in valid] + [webhook_id for webhook_id, _, _ in mutated]
    with psycopg.connect(pipeline.database_url) as conn:
        rows = conn.execute(
            "SELECT event_id, status FROM webhook_events WHERE event_id = ANY(%s)", (ids,)
        ).fetchall()
    return statuses, dict(rows)


def test_every_acknowledged_delivery_ends_recorded_and_every_valid_one_is_processed(
    app_environ, api_key, webhook_secret, database_url
):
    tally: Counter[str] = Counter()
    loop = asyncio.new_event_loop()
    with running_simulator_in_thread(
        api_key=api_key, webhook_secrets=webhook_secret, ats_url="http://127.0.0.1:9/api/portal/webhooks"
    ) as portal:
        environ = {**app_environ, "PORTAL_BASE_URL": portal.base_url}
        runtime = loop.run_until_complete(Runtime.from_environ(environ))
        pipeline = Pipeline(runtime, webhook_secret, database_url)
        try:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(data=st.data())
            def one_round(data: st.DataObject) -> None:
                valid = _valid_events(portal.base_url)
                # Each round: one mutation per poison class, so every class is exercised, and
                # several of any JSON value or a removed field, so that the pipeline (not only the
                # door) sees mutated events.
                index = st.integers(0, len(valid) - 1)
                # How each is mutated follows a fixed pattern, not a draw: hypothesis skews its
                # draws per run on purpose, and the share of still-valid mutations (about two
                # in five) must not depend on that.
                poison = [
                    data.draw(mutations(valid[data.draw(index)], kind, HOW_POISON[n % len(HOW_POISON)]))
                    for n, kind in enumerate(POISON)
                ]
                benign = data.draw(st.lists(index, min_size=6, max_size=10))
                mutated = poison + [
                    data.draw(mutations(valid[i], "json", HOW_BENIGN[n % len(HOW_BENIGN)]))
                    for n, i in enumerate(benign)
                ]
                statuses, recorded = loop.run_until_complete(_send_and_apply(pipeline, valid, mutated))
                tally["rounds"] += 1
                for event_ in valid:
                    expected = "ignored" if event_["type"] == "portal.something_new" else "processed"
                    assert recorded.get(event_["id"]) == expected, (
                        event_["type"],
                        recorded.get(event_["id"]),
                    )
                for (webhook_id, _, label), status in zip(mutated, statuses, strict=True):
                    accepted = status in (200, 202)
                    kind = label.split(":")[-1]
                    tally["mutated"] += 1
                    tally[f"class:{kind}"] += 1
                    tally["accepted" if accepted else "refused"] += 1
                    event(f"poison class {kind}")
                    event("mutated delivery accepted" if accepted else "mutated delivery refused with a 4xx")
                    assert accepted or 400 <= status < 500, (label, status)
                    if accepted:
                        assert recorded.get(webhook_id) in {"processed", "failed", "ignored"}, (label, status)

            one_round()
        finally:
            loop.run_until_complete(pipeline.close())
            loop.close()
    # Across the whole run: enough accepted mutations to prove the pipeline and not only the
    # door, and every poison class exercised. The summary is printed (shown by `make fuzz`, and
    # by pytest -s): hypothesis' own statistics list only the outer test, not this inner one.
    classes = ", ".join(
        f"{key.removeprefix('class:')} {n}" for key, n in sorted(tally.items()) if key.startswith("class:")
    )
    print(
        f"\n{tally['rounds']} rounds, {tally['mutated']} mutated deliveries: {tally['accepted']} accepted"
        f" ({tally['accepted'] / max(tally['mutated'], 1):.0%}), {tally['refused']} refused with a 4xx;"
        f" by class: {classes}"
    )
    assert tally["accepted"] >= 0.3 * tally["mutated"], dict(tally)
    assert {f"class:{name}" for name in POISON} <= set(tally), dict(tally)
