"""``python -m ops dead-letters``: a queue's dead letters (devhost's tables) and parked messages,
listed, dry-run, and put back on the queue, where the real processor then applies them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.messaging import PORTAL_EVENTS
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT, ORIGINAL_MESSAGE_ID
from tests.support import events as ev
from tests.support.ops import Ops

DEAD_LETTER_KEYS = {
    "sequence_number",
    "message_id",
    "reason",
    "description",
    "delivery_count",
    "enqueued_at",
    "dead_lettered_at",
    "body_bytes",
}
PARKED_KEYS = {"id", "message_id", "reason", "attempts", "parked_at", "body_bytes"}


@pytest.fixture
def ops(capsys, database_url) -> Ops:
    # all ops needs: the database (parked messages) and the queues (dead letters, resubmits)
    return Ops(capsys, {"DATABASE_URL": database_url, "ServiceBusConnection": database_url})


async def dead_lettered(pipeline) -> dict[str, Any]:
    """A valid event, acknowledged by the receiver, whose handler 'kept raising': dead-lettered."""
    event = ev.profile_event(ev.candidate())
    assert (await pipeline.post(event)).status == 202
    locked = await pipeline.receiver.receive(PORTAL_EVENTS, 10, timedelta(seconds=60))
    assert await pipeline.receiver.dead_letter(locked, "MaxDeliveryCountExceeded", "KeyError: 'stage'") == 1
    return event


async def parked(pipeline, portal) -> dict[str, Any]:
    """An event whose profile fetch failed transiently for 24 h: parked by the real processor.
    The candidate is the portal's, so once the fault is gone the fetch succeeds."""
    cand = await portal.admin.seed_candidate()
    await portal.admin.add_fault("error_503", path_prefix="/v1/candidates")
    event = ev.screening_event(cand["id"], 85)
    first = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    message = QueuedMessage(
        ev.body_of(event),
        event["id"] + ":r30",
        {ATTEMPT: 31, FIRST_ATTEMPT_AT: first, ORIGINAL_MESSAGE_ID: event["id"], "received_at": RECEIVED},
    )
    assert (await pipeline.runtime.processor.process([message])).parked == 1
    await portal.admin.reset_faults()
    return event


#: When the receiver first accepted the parked event (a property the parking keeps).
RECEIVED = "2026-11-27T09:30:00+00:00"


def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return {
            "messages": conn.execute("SELECT * FROM devhost.messages ORDER BY sequence_number").fetchall(),
            "parked": conn.execute("SELECT * FROM parked_messages ORDER BY id").fetchall(),
            "events": conn.execute("SELECT * FROM webhook_events ORDER BY id").fetchall(),
        }


async def test_list_shows_dead_letters_and_parked_messages_in_text_and_json(ops, pipeline, portal) -> None:
    dead = await dead_lettered(pipeline)
    kept = await parked(pipeline, portal)

    run = await ops("dead-letters", "list", PORTAL_EVENTS)
    assert run.status == 0
    assert run.lines[0] == f"dead letters of {PORTAL_EVENTS}: 1"
    assert run.lines[1].split() == [
        "sequence_number",
        "message_id",
        "reason",
        "description",
        "delivery_count",
        "dead_lettered_at",
    ]
    assert dead["id"] in run.lines[2]
    assert "MaxDeliveryCountExceeded  KeyError: 'stage'" in run.lines[2]
    assert run.lines[3] == ""
    assert run.lines[4] == f"parked messages of {PORTAL_EVENTS}: 1"
    assert run.lines[5].split() == ["id", "message_id", "reason", "attempts", "parked_at"]
    assert f"{kept['id']}:r30" in run.lines[6]
    assert dead["data"]["candidate"]["email"] not in run.out  # bodies are not printed

    data = (await ops("dead-letters", "list", PORTAL_EVENTS, "--json")).data
    assert set(data) == {"queue", "dead_letters", "dead_letters_more", "parked", "parked_more"}
    [letter] = data["dead_letters"]
    assert set(letter) == DEAD_LETTER_KEYS
    assert (letter["message_id"], letter["reason"], letter["delivery_count"]) == (
        dead["id"],
        "MaxDeliveryCountExceeded",
        1,
    )
    assert letter["body_bytes"] == len(ev.body_of(dead))
    [row] = data["parked"]
    assert set(row) == PARKED_KEYS
    assert (row["message_id"], row["attempts"]) == (kept["id"] + ":r30", 31)
    assert (data["dead_letters_more"], data["parked_more"]) == (False, False)

    only_parked = (await ops("dead-letters", "list", PORTAL_EVENTS, "--source", "parked", "--json")).data
    assert (only_parked["dead_letters"], len(only_parked["parked"])) == (None, 1)
    other_queue = (await ops("dead-letters", "list", "document-transfers", "--json")).data
    assert (other_queue["dead_letters"], other_queue["parked"]) == ([], [])


async def test_a_dry_run_says_what_it_would_do_and_changes_nothing(
    ops, pipeline, portal, database_url
) -> None:
    dead = await dead_lettered(pipeline)
    kept = await parked(pipeline, portal)
    before = snapshot(database_url)

    run = await ops("dead-letters", "resubmit", PORTAL_EVENTS, "--all", "--dry-run")
    assert run.status == 0
    assert run.lines[0] == f"would resubmit 2 message(s) to {PORTAL_EVENTS} (dry run: nothing changed)"
    assert run.lines[1].split() == ["source", "message_id", "new_message_id"]
    assert run.lines[2].split() == ["dead-letter", dead["id"], dead["id"] + ":resubmit1"]
    assert run.lines[3].split() == ["parked", kept["id"] + ":r30", kept["id"] + ":resubmit1"]
    as_json = await ops(
        "dead-letters", "resubmit", PORTAL_EVENTS, "--message-id", dead["id"], "--dry-run", "--json"
    )
    assert as_json.data == {
        "queue": PORTAL_EVENTS,
        "dry_run": True,
        "resubmitted": [
            {"source": "dead-letter", "message_id": dead["id"], "new_message_id": dead["id"] + ":resubmit1"}
        ],
        "error": None,
    }
    assert snapshot(database_url) == before


async def test_a_resubmitted_dead_letter_is_queued_afresh_and_then_processed(
    ops, pipeline, database_url
) -> None:
    dead = await dead_lettered(pipeline)

    run = await ops("dead-letters", "resubmit", PORTAL_EVENTS, "--message-id", dead["id"], "--json")
    assert run.status == 0
    assert run.data["resubmitted"] == [
        {"source": "dead-letter", "message_id": dead["id"], "new_message_id": dead["id"] + ":resubmit1"}
    ]
    assert await pipeline.receiver.dead_letters(PORTAL_EVENTS) == []
    [queued] = await pipeline.queued()
    assert queued["message_id"] == dead["id"] + ":resubmit1"
    assert bytes(queued["body"]) == ev.body_of(dead)
    properties = queued["application_properties"]
    assert properties["resubmitted_from"] == dead["id"]
    assert properties["event_type"] == "candidate.created"
    assert "received_at" in properties  # the receiver's clock travels with it

    [report] = await pipeline.drain()
    assert report.event_outcomes == {dead["id"]: "processed"}
    assert pipeline.candidate(dead["data"]["candidate"]["id"])["stage"] == "new"
    assert (await ops("dead-letters", "list", PORTAL_EVENTS, "--json")).data["dead_letters"] == []


async def test_a_resubmitted_parked_message_starts_afresh_and_is_then_processed(
    ops, pipeline, portal
) -> None:
    kept = await parked(pipeline, portal)

    run = await ops("dead-letters", "resubmit", PORTAL_EVENTS, "--all")
    assert run.status == 0
    assert run.lines[0] == f"resubmitted 1 message(s) to {PORTAL_EVENTS}"
    assert run.lines[2].split() == ["parked", kept["id"] + ":r30", kept["id"] + ":resubmit1"]
    assert pipeline.rows("SELECT * FROM parked_messages") == []
    [queued] = await pipeline.queued()
    assert queued["message_id"] == kept["id"] + ":resubmit1"
    # the properties it was parked with, the retry counters dropped
    assert queued["application_properties"] == {
        "resubmitted_from": kept["id"] + ":r30",
        "received_at": RECEIVED,
    }
    assert queued["scheduled_enqueue_time"] is None

    [report] = await pipeline.drain()  # the portal answers again: the profile is fetched
    assert report.event_outcomes == {kept["id"]: "processed"}
    [row] = pipeline.rows(
        "SELECT status, attempts, received_at FROM webhook_events WHERE event_id = %s", kept["id"]
    )
    assert (row["status"], row["attempts"]) == ("processed", 1)
    assert row["received_at"] == datetime.fromisoformat(RECEIVED)  # when it first arrived
    assert pipeline.candidate(kept["data"]["screening"]["candidate_id"])["stage"] == "assessment"


async def test_resubmitting_what_is_not_there_exits_1_and_changes_nothing(
    ops, pipeline, database_url
) -> None:
    await dead_lettered(pipeline)
    before = snapshot(database_url)
    run = await ops("dead-letters", "resubmit", PORTAL_EVENTS, "--message-id", "evt_nowhere")
    assert run.status == 1
    assert run.out == f"nothing to resubmit on {PORTAL_EVENTS}: no dead letter or parked message matched\n"
    assert snapshot(database_url) == before


async def test_a_send_that_fails_keeps_the_parked_message(ops, pipeline, portal, database_url) -> None:
    kept = await parked(pipeline, portal)
    run = await ops(
        "dead-letters",
        "resubmit",
        PORTAL_EVENTS,
        "--all",
        "--source",
        "parked",
        environ={
            "DATABASE_URL": database_url,
            "ServiceBusConnection": "postgresql://postgres@127.0.0.1:1/queues",
        },
    )
    assert run.status == 3
    assert "unavailable" in run.err
    [row] = pipeline.rows("SELECT message_id FROM parked_messages")
    assert row["message_id"] == kept["id"] + ":r30"
    assert await pipeline.queued() == []


async def test_a_body_parked_as_base64_goes_back_as_the_bytes_that_were_sent(
    ops, pipeline, database_url
) -> None:
    # what the processor parks when PostgreSQL cannot store a body as JSON (here: not UTF-8)
    raw = b'{"id": "evt_latin1", "note": "caf\xe9"}'
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO parked_messages (queue, message_id, body, reason, attempts) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                PORTAL_EVENTS,
                "evt_latin1:r30",
                Jsonb({"body_base64": base64.b64encode(raw).decode("ascii")}),
                "transient failures for 24 hours",
                31,
            ),
        )

    run = await ops("dead-letters", "resubmit", PORTAL_EVENTS, "--all", "--json")
    assert run.status == 0
    [queued] = await pipeline.queued()
    assert (queued["message_id"], bytes(queued["body"])) == ("evt_latin1:resubmit1", raw)
