"""``python -m ops events``: what the operator sees of events the real receiver and processor
recorded (and of rows written here), in text and in JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from shared.messaging import PORTAL_EVENTS, OutboundMessage
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT
from tests.support import events as ev
from tests.support.ops import Ops

NOW = datetime.now(UTC).replace(microsecond=0)

EVENT_KEYS = {"event_id", "type", "status", "attempts", "last_error", "received_at", "processed_at"}


@pytest.fixture
def ops(capsys, database_url) -> Ops:
    return Ops(capsys, {"DATABASE_URL": database_url, "ServiceBusConnection": database_url})


def record(database_url: str, event_id: str, event_type: str, status: str, minutes_ago: int, error=None):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO webhook_events (event_type, event_id, payload, processed, status, attempts, "
            "last_error, received_at, processed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                event_type,
                event_id,
                Jsonb({"id": event_id, "type": event_type, "data": {}}),
                status != "failed",
                status,
                2 if status == "failed" else 1,
                error,
                NOW - timedelta(minutes=minutes_ago),
                NOW - timedelta(minutes=minutes_ago - 1),
            ),
        )


@pytest.fixture
def recorded(database_url) -> None:
    record(database_url, "evt_old_fail", "assessment.completed", "failed", 180, "event data failed: score")
    record(database_url, "evt_new_fail", "screening.completed", "failed", 10, "candidate mismatch\non offer")
    record(database_url, "evt_done", "screening.completed", "processed", 5)
    record(database_url, "evt_skip", "portal.unknown", "ignored", 1, "unknown event type")


async def test_list_failed_events_newest_first_as_an_aligned_table(ops, recorded) -> None:
    run = await ops("events", "list", "--status", "failed")
    assert run.status == 0
    header, newer, older, summary = run.lines
    assert header.split() == ["event_id", "type", "status", "attempts", "last_error", "received_at"]
    assert newer.startswith("evt_new_fail  screening.completed")
    assert older.startswith("evt_old_fail  assessment.completed")
    # aligned: every column starts at the same offset on each line
    assert header.index("last_error") == newer.index("candidate mismatch") == older.index("event data")
    assert "candidate mismatch\\non offer" in newer  # a stored newline cannot fake a row
    assert (NOW - timedelta(minutes=10)).isoformat().replace("+00:00", "Z") in newer
    assert summary == "2 event(s)"


async def test_list_as_json_has_stable_keys_and_every_filter(ops, recorded) -> None:
    run = await ops("events", "list", "--status", "failed", "--json")
    assert run.status == 0
    assert set(run.data) == {"count", "more", "events"}
    assert [e["event_id"] for e in run.data["events"]] == ["evt_new_fail", "evt_old_fail"]
    first = run.data["events"][0]
    assert set(first) == EVENT_KEYS
    assert first["last_error"] == "candidate mismatch\non offer"
    assert first["attempts"] == 2
    assert datetime.fromisoformat(first["received_at"]) == NOW - timedelta(minutes=10)

    by_type = (await ops("events", "list", "--type", "screening.completed", "--json")).data
    assert [e["event_id"] for e in by_type["events"]] == ["evt_done", "evt_new_fail"]
    recent = (await ops("events", "list", "--status", "failed", "--since", "1h", "--json")).data
    assert [e["event_id"] for e in recent["events"]] == ["evt_new_fail"]
    since_iso = (NOW - timedelta(minutes=6)).isoformat()
    assert [
        e["event_id"] for e in (await ops("events", "list", "--since", since_iso, "--json")).data["events"]
    ] == [
        "evt_skip",
        "evt_done",
    ]
    limited = (await ops("events", "list", "--limit", "1", "--json")).data
    assert (limited["count"], limited["more"], limited["events"][0]["event_id"]) == (1, True, "evt_skip")


async def test_an_empty_list_is_an_answer(ops) -> None:
    run = await ops("events", "list", "--status", "failed")
    assert (run.status, run.out) == (0, "0 event(s)\n")
    assert (await ops("events", "list", "--json")).data == {"count": 0, "more": False, "events": []}


async def test_show_a_processed_event_with_its_payload(ops, pipeline) -> None:
    cand = ev.candidate()
    event = ev.profile_event(cand)
    assert (await pipeline.post(event)).status == 202
    await pipeline.drain()

    run = await ops("events", "show", event["id"], "--json")
    assert run.status == 0
    assert set(run.data) == {"event_id", "event", "rejections", "parked"}
    shown = run.data["event"]
    assert (shown["status"], shown["type"], shown["attempts"], shown["reason"]) == (
        "processed",
        "candidate.created",
        1,
        None,
    )
    assert shown["payload"] == event
    assert shown["payload_withheld"] is None
    assert shown["processed_at"] is not None
    assert (run.data["rejections"], run.data["parked"]) == ([], [])

    text = await ops("events", "show", event["id"])
    assert text.status == 0
    assert text.lines[0] == f"event {event['id']} (webhook_events)"
    assert "status:        processed" in text.lines
    assert "payload:       below" in text.lines
    assert json.loads(text.out[text.out.index("\n{") :]) == event


async def test_show_never_prints_a_profile_kept_without_consent_and_says_why(ops, pipeline) -> None:
    cand = ev.candidate(consents={"data_processing": False})
    event = ev.profile_event(cand)
    # refused at the door (422, stored without its payload) ...
    assert (await pipeline.post(event)).status == 422
    # ... and, had it reached the queue another way, recorded failed without its payload
    await pipeline.runtime.sender.send(PORTAL_EVENTS, [OutboundMessage(ev.body_of(event), event["id"])])
    await pipeline.drain()

    run = await ops("events", "show", event["id"], "--json")
    assert run.status == 0
    shown = run.data["event"]
    assert shown["status"] == "failed"
    assert "consents" in shown["reason"]
    assert (shown["payload"], shown["payload_withheld"]) == (None, "consent_missing")
    [refusal] = run.data["rejections"]
    assert (refusal["status_code"], refusal["reason"]) == (422, "consent_missing")
    assert (refusal["payload"], refusal["payload_withheld"]) == (None, "consent_missing")
    assert any(error["field"].startswith("candidate.consents") for error in refusal["errors"])

    text = await ops("events", "show", event["id"])
    assert text.out.count("not stored: the profile lacks data-processing consent") == 2
    assert "refused at the door 1 time(s) (rejected_deliveries)" in text.lines
    for personal in (cand["email"], cand["last_name"], cand["phone"]):
        assert personal not in text.out + run.out


async def test_show_a_refused_delivery_with_its_payload_and_field_errors(ops, pipeline) -> None:
    event = ev.screening_event(ev.uid("cand_"), 150)  # a score above 100
    answer = await pipeline.post(event)
    assert answer.status == 422

    run = await ops("events", "show", event["id"], "--json")
    assert run.status == 0
    assert run.data["event"] is None
    [refusal] = run.data["rejections"]
    assert refusal["reason"] == "invalid_data"
    assert refusal["payload"] == event
    fields = [error["field"] for error in refusal["errors"]]
    assert fields

    text = await ops("events", "show", event["id"])
    assert f"error:        {fields[0]}: " in text.out
    assert '"id": "' + event["id"] + '"' in text.out


async def test_show_names_a_parked_message_of_the_event(ops, pipeline, portal) -> None:
    await portal.admin.add_fault("error_503", path_prefix="/v1/candidates")
    event = ev.screening_event(ev.uid("cand_"), 70)
    first = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    message = QueuedMessage(ev.body_of(event), event["id"] + ":r30", {ATTEMPT: 31, FIRST_ATTEMPT_AT: first})
    assert (await pipeline.runtime.processor.process([message])).parked == 1

    run = await ops("events", "show", event["id"], "--json")
    assert run.status == 0
    [parked] = run.data["parked"]
    assert (parked["queue"], parked["message_id"], parked["attempts"]) == (
        PORTAL_EVENTS,
        event["id"] + ":r30",
        31,
    )
    text = await ops("events", "show", event["id"])
    assert any(line.startswith(f"portal-events  {event['id']}:r30") for line in text.lines)


async def test_show_an_unknown_event_exits_1_and_says_where_else_to_look(ops) -> None:
    run = await ops("events", "show", "evt_nowhere")
    assert run.status == 1
    assert "no event evt_nowhere" in run.out
    assert "dead-letters list portal-events" in run.out
    as_json = await ops("events", "show", "evt_nowhere", "--json")
    assert as_json.status == 1
    assert as_json.data == {"event_id": "evt_nowhere", "event": None, "rejections": [], "parked": []}
