"""One outcome per message (issue "Nothing acknowledged is lost"): contradicting and foreign
answers, poison messages beside good ones, bugs, waiting for the portal, parking.

Messages that the receiver would refuse today are put straight on the queue here (as a
resubmitted dead letter or an older version's receiver would), to show that the processor
itself never lets one message take another down, whatever reaches it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from shared.inbound import decide as decide_module
from shared.inbound.changes import Screening
from shared.messaging import DOCUMENT_TRANSFERS, PORTAL_EVENTS, OutboundMessage
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT, ORIGINAL_MESSAGE_ID
from shared.runtime import Runtime
from tests.support import events as ev
from tests.support.pipeline import Pipeline
from tests.support.tcp_proxy import TcpProxy


async def _queue(pipeline: Pipeline, *events: dict | bytes, ids: list[str] | None = None) -> None:
    messages = []
    for n, event in enumerate(events):
        body = event if isinstance(event, bytes) else ev.body_of(event)
        message_id = ids[n] if ids else (event["id"] if isinstance(event, dict) else f"raw-{uuid.uuid4()}")
        messages.append(OutboundMessage(body=body, message_id=message_id))
    await pipeline.runtime.sender.send(PORTAL_EVENTS, messages)


def _event(pipeline: Pipeline, event_id: str) -> dict:
    [row] = pipeline.rows(
        "SELECT status, processed, last_error FROM webhook_events WHERE event_id = %s", event_id
    )
    return row


async def _hired_candidate_with_offer(pipeline: Pipeline) -> tuple[dict, str]:
    cand = ev.candidate()
    await _queue(pipeline, ev.profile_event(cand))
    await pipeline.drain()
    return cand, str(uuid.uuid4())


# --- offers: the first answer is final ------------------------------------------------------


@pytest.mark.parametrize("same_batch", [True, False], ids=["one-batch", "two-batches"])
async def test_an_offer_declined_then_accepted_stays_declined_and_the_candidate_is_not_hired(
    pipeline, same_batch
):
    cand, offer_id = await _hired_candidate_with_offer(pipeline)
    declined = ev.offer_event(cand["id"], offer_id, "declined", created=1)
    accepted = ev.offer_event(cand["id"], offer_id, "accepted", created=2)
    if same_batch:
        await _queue(pipeline, declined, accepted)
        await pipeline.drain()
    else:
        for event in (declined, accepted):
            await _queue(pipeline, event)
            await pipeline.drain()
    [offer] = pipeline.rows("SELECT status FROM offers WHERE id = %s", offer_id)
    assert offer["status"] == "declined"
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("new", True)
    assert _event(pipeline, declined["id"])["status"] == "processed"
    ignored = _event(pipeline, accepted["id"])
    assert (ignored["status"], ignored["processed"]) == ("ignored", True)
    assert "contradicts the offer's first answer (declined)" in ignored["last_error"]
    assert [h["to_stage"] for h in pipeline.rows("SELECT to_stage FROM candidate_stage_history")] == ["new"]


@pytest.mark.parametrize("same_batch", [True, False], ids=["one-batch", "two-batches"])
async def test_an_offer_accepted_then_declined_stays_accepted_and_hired(pipeline, same_batch):
    cand, offer_id = await _hired_candidate_with_offer(pipeline)
    accepted = ev.offer_event(cand["id"], offer_id, "accepted", created=1)
    declined = ev.offer_event(cand["id"], offer_id, "declined", created=2)
    if same_batch:
        await _queue(pipeline, accepted, declined)
        await pipeline.drain()
    else:
        for event in (accepted, declined):
            await _queue(pipeline, event)
            await pipeline.drain()
    [offer] = pipeline.rows("SELECT status FROM offers WHERE id = %s", offer_id)
    assert offer["status"] == "accepted"
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("hired", False)
    assert _event(pipeline, declined["id"])["status"] == "ignored"


async def test_a_second_acceptance_under_another_event_id_is_ignored_as_a_repeat(pipeline):
    cand, offer_id = await _hired_candidate_with_offer(pipeline)
    first = ev.offer_event(cand["id"], offer_id, "accepted", created=1)
    again = ev.offer_event(cand["id"], offer_id, "accepted", created=2)
    await _queue(pipeline, first, again)
    await pipeline.drain()
    assert _event(pipeline, again["id"])["last_error"] == "repeats the offer's accepted answer"
    assert len(pipeline.rows("SELECT * FROM candidate_stage_history WHERE to_stage = 'hired'")) == 1


# --- interviews: an answer its status order refuses -----------------------------------------


@pytest.mark.parametrize("order", ["declined-first", "scheduled-first"])
async def test_an_interview_answer_the_order_refuses_is_ignored_without_effect(pipeline, order):
    cand = ev.candidate()
    await _queue(pipeline, ev.profile_event(cand))
    await pipeline.drain()
    request_id = str(uuid.uuid4())
    interview_id = ev.uid("int_")
    declined = ev.interview_event(cand["id"], request_id, "declined", interview_id=interview_id, created=1)
    scheduled = ev.interview_event(cand["id"], request_id, interview_id=interview_id, start=100, created=2)
    pair = (declined, scheduled) if order == "declined-first" else (scheduled, declined)
    for event in pair:
        await _queue(pipeline, event)
        await pipeline.drain()
    [interview] = pipeline.rows("SELECT status FROM interviews WHERE id = %s", request_id)
    assert interview["status"] == "declined"  # declined outranks scheduled whatever the order
    row = pipeline.candidate(cand["id"])
    if order == "declined-first":
        refused = _event(pipeline, scheduled["id"])
        assert refused["status"] == "ignored"
        assert refused["last_error"] == "the interview is declined; a scheduled answer does not replace it"
        assert row["stage"] == "new"  # the refused "scheduled" moved nothing
    else:
        assert _event(pipeline, declined["id"])["status"] == "processed"
        assert row["stage"] == "interview"
    assert row["needs_review"] is True


# --- answers about another candidate's interview or offer -------------------------------------


async def test_an_answer_about_another_candidates_offer_or_interview_fails(pipeline):
    owner, stranger = ev.candidate(), ev.candidate()
    await _queue(pipeline, ev.profile_event(owner), ev.profile_event(stranger))
    await pipeline.drain()
    owner_id = pipeline.candidate(owner["id"])["id"]
    offer_id, request_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:  # as the ATS's commands would
        conn.execute(
            "INSERT INTO offers (id, candidate_id, status) VALUES (%s, %s, 'sent')", (offer_id, owner_id)
        )
        conn.execute(
            "INSERT INTO interviews (id, candidate_id, status) VALUES (%s, %s, 'pending')",
            (request_id, owner_id),
        )
    offer = ev.offer_event(stranger["id"], str(offer_id), "accepted")
    interview = ev.interview_event(stranger["id"], str(request_id), start=60)
    await _queue(pipeline, offer, interview)
    await pipeline.drain()
    for event, what in ((offer, "offer"), (interview, "interview request")):
        failed = _event(pipeline, event["id"])
        assert failed["status"] == "failed"
        assert failed["last_error"].startswith(f"{what} ")
        assert "belongs to another candidate" in failed["last_error"]
    assert pipeline.rows("SELECT status, candidate_id FROM offers") == [
        {"status": "sent", "candidate_id": owner_id}
    ]
    assert pipeline.rows("SELECT status FROM interviews") == [{"status": "pending"}]
    assert pipeline.candidate(stranger["id"])["stage"] == "new"


# --- poison beside good events ----------------------------------------------------------------


async def test_poison_messages_fail_alone_and_every_good_batch_mate_applies(pipeline):
    cands = [ev.candidate() for _ in range(20)]
    good = [ev.profile_event(c) for c in cands]
    nul = ev.profile_event(ev.candidate())
    nul["data"]["candidate"]["x_note"] = "a\u0000b"  # an unknown field is enough
    surrogate = ev.body_of(ev.profile_event(ev.candidate())).replace(
        b'"skills": [', b'"skills": ["\\ud800", ', 1
    )
    lower_z = ev.profile_event(ev.candidate())
    lower_z["data"]["candidate"]["updated_at"] = "2026-11-28T10:00:00z"
    not_json = b"\x00\x01 not json"
    await _queue(
        pipeline,
        *good[:10],
        nul,
        surrogate,
        not_json,
        lower_z,
        *good[10:],
        ids=[
            *(e["id"] for e in good[:10]),
            nul["id"],
            "evt_surrogate",
            "raw-1",
            lower_z["id"],
            *(e["id"] for e in good[10:]),
        ],
    )
    [report] = await pipeline.drain()
    assert (report.processed, report.failed) == (21, 3)
    assert {
        r["status"]
        for r in pipeline.rows(
            "SELECT status FROM webhook_events WHERE event_id = ANY(%s)", [e["id"] for e in good]
        )
    } == {"processed"}
    assert len(pipeline.rows("SELECT id FROM candidates")) == 21  # 20 good + the lower-case z one
    failed = {
        r["event_id"]: r
        for r in pipeline.rows(
            "SELECT event_id, last_error, payload FROM webhook_events WHERE status = 'failed'"
        )
    }
    assert set(failed) == {nul["id"], json.loads(surrogate)["id"], "raw-1"}
    assert failed[nul["id"]]["last_error"] == "event data failed validation: candidate.x_note"
    assert failed[nul["id"]]["payload"] == {}  # PostgreSQL would not store it
    assert failed["raw-1"]["last_error"] == "the message body is not a JSON object"
    assert await pipeline.receiver.dead_letters(PORTAL_EVENTS) == []
    assert await pipeline.queued() == []


async def test_a_bug_while_deciding_one_event_fails_it_with_the_exception_type_alone(pipeline, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(decide_module._HANDLERS, Screening, broken)
    cand = ev.candidate()
    portal = pipeline.runtime.settings.portal_base_url
    events = [
        ev.profile_event(cand),
        ev.screening_event(cand["id"], 90, created=1),
        ev.document_event(cand["id"], portal=portal, created=2),
    ]
    await _queue(pipeline, *events)
    [report] = await pipeline.drain()
    assert (report.processed, report.failed) == (2, 1)
    failed = _event(pipeline, events[1]["id"])
    assert failed["last_error"] == "ZeroDivisionError while deciding the event's effect"
    assert pipeline.rows("SELECT count(*) AS n FROM candidate_documents") == [{"n": 1}]


# --- small defects ------------------------------------------------------------------------------


async def test_a_document_uploaded_a_then_b_then_a_is_transferred_each_time(pipeline):
    cand = ev.candidate()
    await _queue(pipeline, ev.profile_event(cand))
    await pipeline.drain()
    doc_id = ev.uid("doc_")
    portal = pipeline.runtime.settings.portal_base_url
    uploads = [
        ev.document_event(cand["id"], portal=portal, doc_id=doc_id, sha256=sha, created=n)
        for n, sha in enumerate(("a" * 64, "b" * 64, "a" * 64), start=1)
    ]
    for upload in uploads:
        await _queue(pipeline, upload)
        await pipeline.drain()
    transfers = await pipeline.queued(DOCUMENT_TRANSFERS)
    assert [m["message_id"] for m in transfers] == [f"transfer:{u['id']}" for u in uploads]
    [row] = pipeline.rows("SELECT sha256, status FROM candidate_documents")
    assert row == {"sha256": uploads[2]["data"]["document"]["sha256"], "status": "pending"}


async def test_two_new_candidates_naming_one_ats_id_are_both_stored(pipeline):
    ats_id = str(uuid.uuid4())
    first, second = sorted((ev.candidate(ats_candidate_id=ats_id) for _ in range(2)), key=lambda c: c["id"])
    await _queue(pipeline, ev.profile_event(second), ev.profile_event(first))
    [report] = await pipeline.drain()
    assert report.processed == 2
    ids = {
        r["portal_candidate_id"]: str(r["id"])
        for r in pipeline.rows("SELECT id, portal_candidate_id FROM candidates")
    }
    assert ids[first["id"]] == ats_id
    assert ids[second["id"]] != ats_id


async def test_two_concurrent_batches_naming_one_ats_id_store_both_candidates(
    portal_environ, webhook_secret, database_url
):
    ats_id = str(uuid.uuid4())
    cands = [ev.candidate(ats_candidate_id=ats_id) for _ in range(2)]
    runtimes = [await Runtime.from_environ(portal_environ) for _ in range(2)]
    try:
        await asyncio.gather(
            *(
                runtime.processor.process([QueuedMessage(ev.body_of(ev.profile_event(c)), ev.uid("evt_"))])
                for runtime, c in zip(runtimes, cands, strict=True)
            )
        )
    finally:
        for runtime in runtimes:
            await runtime.close()
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT portal_candidate_id, id::text FROM candidates").fetchall()
    rows: dict[str, str] = dict(found)
    assert set(rows) == {c["id"] for c in cands}
    assert sorted(rows.values()).count(ats_id) == 1


# --- waiting for the portal, honestly ----------------------------------------------------------


async def _portal_calls(portal) -> int:
    return sum(route["total"] for route in (await portal.admin.stats())["requests"].values())


async def test_a_retry_after_from_the_portal_sets_the_resend_delay(pipeline, portal):
    await portal.admin.add_fault("error_429", path_prefix="/v1/candidates", retry_after_seconds=40)
    event = ev.screening_event(ev.uid("cand_"), 70)
    report = await pipeline.runtime.processor.process([QueuedMessage(ev.body_of(event), event["id"])])
    assert report.rescheduled == 1
    [queued] = await pipeline.queued()
    delay = queued["scheduled_enqueue_time"] - queued["enqueued_at"]
    assert timedelta(seconds=39) < delay < timedelta(seconds=42)


async def test_while_the_breaker_is_open_the_resend_waits_for_its_remaining_time(pipeline, portal):
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates")
    for _ in range(5):  # five transient failures open it (threshold 5, cool-down 30 s)
        event = ev.screening_event(ev.uid("cand_"), 70)
        await pipeline.runtime.processor.process([QueuedMessage(ev.body_of(event), event["id"])])
    calls_before = await _portal_calls(portal)
    event = ev.screening_event(ev.uid("cand_"), 70)
    report = await pipeline.runtime.processor.process([QueuedMessage(ev.body_of(event), event["id"])])
    assert report.rescheduled == 1
    assert await _portal_calls(portal) == calls_before  # no call while open
    [queued] = [m for m in await pipeline.queued() if m["message_id"] == event["id"] + ":r1"]
    delay = queued["scheduled_enqueue_time"] - queued["enqueued_at"]
    assert timedelta(seconds=20) < delay <= timedelta(seconds=31)


async def test_with_postgresql_down_a_message_due_for_parking_alerts_and_is_not_lost(
    app_environ, webhook_secret, database_url, caplog
):
    parts = urlsplit(database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxied = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{proxy.port}", parts.path, "", ""))
    runtime = await Runtime.from_environ({**app_environ, "DATABASE_URL": proxied})
    pipe = Pipeline(runtime, webhook_secret, database_url)
    try:
        event = ev.profile_event(ev.candidate())
        first = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
        old = QueuedMessage(
            ev.body_of(event),
            event["id"] + ":r40",
            {ATTEMPT: 41, FIRST_ATTEMPT_AT: first, ORIGINAL_MESSAGE_ID: event["id"]},
        )
        proxy.cut()
        report = await runtime.processor.process([old])
        assert (report.parked, report.rescheduled) == (0, 0)
        assert "ALERT event_parked [portal-events]" in caplog.text
        [queued] = await pipe.queued()  # not lost: back on its queue, to be parked later
        assert queued["message_id"] == event["id"] + ":r41"
        assert (
            timedelta(minutes=4)
            < queued["scheduled_enqueue_time"] - queued["enqueued_at"]
            <= timedelta(minutes=5)
        )
        proxy.restore()  # the database is back: the event that came back applies, nothing lost
        for _ in range(100):  # until the app's pool has reconnected
            try:
                async with runtime.db.connection(timeout=1) as conn:
                    await conn.execute("SELECT 1")
                break
            except (psycopg.OperationalError, PoolTimeout):
                await asyncio.sleep(0.1)
        later = QueuedMessage(bytes(queued["body"]), queued["message_id"], queued["application_properties"])
        report = await runtime.processor.process([later])  # when its scheduled time comes
        assert report.processed == 1
        assert pipe.rows("SELECT event_id FROM webhook_events") == [{"event_id": event["id"]}]
    finally:
        await pipe.close()
        await proxy.close()


async def test_an_event_whose_record_postgresql_refuses_is_recorded_without_its_payload(pipeline):
    """The per-event fallback covers the event's record too: a payload PostgreSQL will not take
    (a trigger plays what no validation foresaw) leaves the event failed, its batch-mates applied."""
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.payload ? 'x_refuse_me' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_record BEFORE INSERT ON webhook_events
            FOR EACH ROW EXECUTE FUNCTION refuse_record();""")
    good = [ev.profile_event(ev.candidate()) for _ in range(3)]
    refused = {**ev.profile_event(ev.candidate()), "x_refuse_me": True}
    await _queue(pipeline, good[0], refused, *good[1:])
    [report] = await pipeline.drain()
    assert (report.processed, report.failed) == (3, 1)
    failed = _event(pipeline, refused["id"])
    assert failed["status"] == "failed"
    assert failed["last_error"] == (
        "PostgreSQL refused the event's effect (SQLSTATE 22023); payload not storable"
    )
    [row] = pipeline.rows("SELECT payload FROM webhook_events WHERE event_id = %s", refused["id"])
    assert row["payload"] == {}
    assert len(pipeline.rows("SELECT id FROM candidates")) == 3
