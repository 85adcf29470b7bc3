"""The inbound pipeline when things go wrong: duplicates, disorder, crashes, outages, poison."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

from shared.inbound.processor import BatchReport
from shared.messaging import PORTAL_EVENTS, OutboundMessage
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT
from shared.runtime import Runtime
from tests.support import events as ev
from tests.support.pipeline import Pipeline
from tests.support.tcp_proxy import TcpProxy


async def test_a_duplicate_storm_applies_once(pipeline):
    cand = ev.candidate()
    await pipeline.post(ev.profile_event(cand))
    screening = ev.screening_event(cand["id"], 85)
    answers = await asyncio.gather(*(pipeline.post(screening) for _ in range(50)))
    assert {a.status for a in answers} == {202}
    assert len([m for m in await pipeline.queued() if m["message_id"] == screening["id"]]) == 1
    await pipeline.drain()
    # the portal keeps re-delivering after processing: answered 200 now, still one effect
    later = await asyncio.gather(*(pipeline.post(screening) for _ in range(10)))
    assert {a.status for a in later} == {200}
    await pipeline.drain()
    assert len(pipeline.rows("SELECT id FROM portal_assessments")) == 1
    assert len(pipeline.rows("SELECT id FROM webhook_events WHERE event_id = %s", screening["id"])) == 1
    history = pipeline.rows("SELECT to_stage FROM candidate_stage_history ORDER BY id")
    assert [h["to_stage"] for h in history] == ["new", "assessment"]


async def test_duplicates_that_reach_the_processor_are_no_ops(pipeline):
    """Past the queue's 10-minute window the same event can be queued again: the database stops it."""
    cand = ev.candidate()
    event = ev.profile_event(cand)
    body = ev.body_of(event)
    sender = pipeline.runtime.sender
    await sender.send(PORTAL_EVENTS, [OutboundMessage(body=body, message_id=event["id"])])
    await sender.send(PORTAL_EVENTS, [OutboundMessage(body=body, message_id=event["id"] + ":late")])
    reports = await pipeline.drain(batch_size=1)
    assert [r.processed for r in reports] == [1, 0]
    assert [r.duplicates for r in reports] == [0, 1]
    assert len(pipeline.rows("SELECT id FROM candidate_stage_history")) == 1


def journey(cand: dict, *, portal: str, withdraw: bool) -> list[dict]:
    """One candidate's events; a withdrawn candidate gets no interview or offer."""
    cid = cand["id"]
    request_id, offer_id, interview_id = str(uuid.uuid4()), str(uuid.uuid4()), ev.uid("int_")
    events = [
        ev.profile_event(cand, created=0),
        ev.profile_event(
            {**cand, "headline": "Senior", "updated_at": ev.at(30)}, kind="candidate.updated", created=30
        ),
        ev.screening_event(cid, 88, "advance", created=1),
        ev.assessment_event(cid, 75, created=2),
        ev.document_event(cid, portal=portal, created=3),
    ]
    if withdraw:
        return [*events, ev.withdrawn_event(cid, created=6)]
    return [
        *events,
        ev.interview_event(cid, request_id, interview_id=interview_id, start=100, created=4),
        ev.interview_event(cid, request_id, interview_id=interview_id, start=200, created=5),
        ev.offer_event(cid, offer_id, created=7),
    ]


def final_state(pipeline: Pipeline) -> dict:
    return {
        "candidates": sorted(
            tuple(r.values())
            for r in pipeline.rows(
                "SELECT portal_candidate_id, stage, needs_review, profile->>'headline' AS headline "
                "FROM candidates"
            )
        ),
        # the path differs with the order (history records what happened); where it ends does not
        "history_ends": sorted(
            tuple(r.values())
            for r in pipeline.rows(
                "SELECT DISTINCT ON (c.portal_candidate_id) c.portal_candidate_id, h.to_stage "
                "FROM candidate_stage_history h JOIN candidates c ON c.id = h.candidate_id "
                "ORDER BY c.portal_candidate_id, h.id DESC"
            )
        ),
        "assessments": sorted(
            tuple(r.values())
            for r in pipeline.rows(
                "SELECT portal_assessment_id, status, score, band, passed FROM portal_assessments"
            )
        ),
        "interviews": sorted(
            tuple(r.values())
            for r in pipeline.rows(
                "SELECT id, status, scheduled_start, scheduled_end, portal_interview_id FROM interviews"
            )
        ),
        "offers": sorted(tuple(r.values()) for r in pipeline.rows("SELECT id, status FROM offers")),
        "documents": sorted(
            tuple(r.values())
            for r in pipeline.rows("SELECT portal_document_id, status, sha256 FROM candidate_documents")
        ),
        "events": sorted(
            tuple(r.values())
            for r in pipeline.rows("SELECT event_id, status, last_error FROM webhook_events")
        ),
    }


async def test_a_shuffled_hiring_journey_ends_as_the_ordered_one(
    portal, portal_environ, webhook_secret, database_factory
):
    rng = random.Random(7)
    cands = [ev.candidate() for _ in range(8)]
    for cand in cands:  # the portal knows every candidate, so out-of-order events can fetch them
        await portal.admin.seed_candidate(cand)
    events = [e for i, c in enumerate(cands) for e in journey(c, portal=portal.base_url, withdraw=i % 3 == 0)]
    shuffled = events[:]
    rng.shuffle(shuffled)
    states = []
    for run, order in enumerate((events, shuffled)):
        url = database_factory()
        environ = {
            **portal_environ,
            "DATABASE_URL": url,
            "ServiceBusConnection": url,
            "REDIS_KEY_PREFIX": f"{portal_environ['REDIS_KEY_PREFIX']}run{run}:",
        }
        pipe = Pipeline(await Runtime.from_environ(environ), webhook_secret, url)
        try:
            for event in order:
                assert (await pipe.post(event)).status == 202
            # drain in uneven batches, as the host would
            while await pipe.drain(batch_size=rng.randint(1, 7), max_batches=1):
                pass
            states.append(final_state(pipe))
        finally:
            await pipe.close()
    in_order, out_of_order = states
    # Every event is recorded either way; in order every one applies. Out of order, the one
    # answer the rules refuse is an interview's older reschedule arriving after the newer one:
    # recorded ignored, with its reason, and without effect (the rows below are the same).
    assert {e[1] for e in in_order["events"]} == {"processed"}
    reschedules = {e["id"] for e in events if e["type"] == "interview.scheduled"}
    for event_id, status, reason in out_of_order["events"]:
        if status != "processed":
            assert (event_id, status) in {(r, "ignored") for r in reschedules}
            assert reason.startswith("an older scheduled answer")
    assert [e[0] for e in out_of_order.pop("events")] == [e[0] for e in in_order.pop("events")]
    assert out_of_order == in_order
    stages = {c[0]: c[1] for c in in_order["candidates"]}
    assert stages == {c["id"]: ("withdrawn" if i % 3 == 0 else "hired") for i, c in enumerate(cands)}
    assert all(c[3] == "Senior" for c in in_order["candidates"])


async def test_a_crash_between_commit_and_the_redis_mark_applies_once(
    app_environ, webhook_secret, database_url
):
    # Redis is down while the first attempt commits: the mark is never written, and the
    # message is not completed (the worker "crashed"), so it comes back.
    broken = await Runtime.from_environ({**app_environ, "REDIS_URL": "redis://127.0.0.1:9/0"})
    pipe = Pipeline(broken, webhook_secret, database_url)
    try:
        cand = ev.candidate()
        event = ev.screening_event(cand["id"], 90)
        await pipe.post(ev.profile_event(cand))
        await pipe.drain()
        await pipe.post(event)
        received = await pipe.receiver.receive(PORTAL_EVENTS, 10, timedelta(seconds=1))
        batch = [
            QueuedMessage(m.body, m.message_id, dict(m.application_properties), m.delivery_count)
            for m in received
        ]
        first = await broken.processor.process(batch)
        assert first.processed == 1
        await asyncio.sleep(1.1)  # the lock expires: redelivered, as after a crash
        redelivered = await pipe.receiver.receive(PORTAL_EVENTS, 10, timedelta(seconds=60))
        assert [m.delivery_count for m in redelivered] == [2]
        second = await broken.processor.process(
            [
                QueuedMessage(m.body, m.message_id, dict(m.application_properties), m.delivery_count)
                for m in redelivered
            ]
        )
        await pipe.receiver.complete(redelivered)
        assert (second.processed, second.duplicates) == (0, 1)
        assert len(pipe.rows("SELECT id FROM portal_assessments")) == 1
        assert [
            h["to_stage"] for h in pipe.rows("SELECT to_stage FROM candidate_stage_history ORDER BY id")
        ] == ["new", "assessment"]
    finally:
        await pipe.close()


async def test_database_cut_off_events_wait_and_apply_when_it_returns(
    app_environ, webhook_secret, database_url
):
    parts = urlsplit(database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxied = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{proxy.port}", parts.path, "", ""))
    # the app's database goes through the proxy; the queues (a separate setting) do not
    runtime = await Runtime.from_environ({**app_environ, "DATABASE_URL": proxied})
    pipe = Pipeline(runtime, webhook_secret, database_url)
    try:
        cands = [ev.candidate() for _ in range(3)]
        await asyncio.gather(*(pipe.post(ev.profile_event(c)) for c in cands))
        proxy.cut()
        events = [ev.screening_event(c["id"], 90) for c in cands]
        answers = await asyncio.gather(*(pipe.post(e) for e in events))
        assert {a.status for a in answers} == {202}  # accepting does not need the database
        reports: list[BatchReport] = await pipe.drain()
        assert sum(r.rescheduled for r in reports) == 6
        assert sum(r.processed for r in reports) == 0
        queued = await pipe.queued()
        assert all(m["message_id"].endswith(":r1") for m in queued)
        assert all(m["application_properties"][ATTEMPT] == 2 for m in queued)
        proxy.restore()
        for _ in range(50):
            await asyncio.sleep(0.2)
            await pipe.drain()
            if not await pipe.queued():
                break
        assert await pipe.queued() == []
        dead = await pipe.receiver.dead_letters(PORTAL_EVENTS)
        assert dead == []
        assert {r["stage"] for r in pipe.rows("SELECT stage FROM candidates")} == {"assessment"}
        assert len(pipe.rows("SELECT id FROM webhook_events")) == 6
    finally:
        await pipe.close()
        await proxy.close()


async def test_a_poison_event_does_not_hold_back_its_batch_mates(pipeline):
    cand = ev.candidate()
    good = [ev.profile_event(cand), ev.screening_event(cand["id"], 90, created=1)]
    poison = ev.profile_event(ev.candidate(email="no-at-sign"))  # bypasses the receiver's check
    sender = pipeline.runtime.sender
    await sender.send(
        PORTAL_EVENTS,
        [OutboundMessage(body=ev.body_of(e), message_id=e["id"]) for e in (good[0], poison, good[1])],
    )
    [report] = await pipeline.drain()
    assert (report.processed, report.failed) == (2, 1)
    failed = pipeline.rows(
        "SELECT event_id, status, processed, last_error FROM webhook_events WHERE status = 'failed'"
    )
    assert [(f["event_id"], f["processed"]) for f in failed] == [(poison["id"], False)]
    assert "candidate.email" in failed[0]["last_error"]
    assert "no-at-sign" not in failed[0]["last_error"]
    assert pipeline.candidate(cand["id"])["stage"] == "assessment"
    assert await pipeline.receiver.dead_letters(PORTAL_EVENTS) == []


async def test_an_event_the_database_refuses_fails_alone(pipeline):
    """A statement PostgreSQL refuses (here a trigger plays a bug) fails that event only."""
    with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.assessment_type = 'poison' THEN
                RAISE EXCEPTION 'refused' USING ERRCODE = '23514';
              END IF;
            RETURN NEW; END $$;
            CREATE TRIGGER refuse_poison BEFORE INSERT ON portal_assessments
            FOR EACH ROW EXECUTE FUNCTION refuse_poison();""")
    cand = ev.candidate()
    events = [
        ev.profile_event(cand),
        ev.assessment_event(cand["id"], 90, assessment_type="poison", created=1),
        ev.screening_event(cand["id"], 90, created=2),
    ]
    await pipeline.runtime.sender.send(
        PORTAL_EVENTS, [OutboundMessage(body=ev.body_of(e), message_id=e["id"]) for e in events]
    )
    [report] = await pipeline.drain()
    assert (report.processed, report.failed) == (2, 1)
    [failed] = pipeline.rows("SELECT event_id, last_error FROM webhook_events WHERE status = 'failed'")
    assert failed["event_id"] == events[1]["id"]
    assert "23514" in failed["last_error"]
    row = pipeline.candidate(cand["id"])
    assert row["stage"] == "assessment"  # the poison's "pass" did not move it to interview
    assert [
        r["assessment_type"] for r in pipeline.rows("SELECT assessment_type FROM portal_assessments")
    ] == ["ai_screening"]


async def test_after_24_hours_of_transient_failures_a_message_is_parked_with_an_alert(
    pipeline, portal, caplog
):
    # the portal keeps answering 503 to the profile fetch of a candidate the ATS does not know
    await portal.admin.add_fault("error_503", path_prefix="/v1/candidates")
    event = ev.screening_event(ev.uid("cand_"), 70)
    first = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    message = QueuedMessage(ev.body_of(event), event["id"] + ":r30", {ATTEMPT: 31, FIRST_ATTEMPT_AT: first})
    report = await pipeline.runtime.processor.process([message])
    assert (report.parked, report.rescheduled) == (1, 0)
    [parked] = pipeline.rows("SELECT queue, message_id, reason, attempts, body FROM parked_messages")
    assert (parked["queue"], parked["message_id"], parked["attempts"]) == (
        PORTAL_EVENTS,
        message.message_id,
        31,
    )
    assert parked["body"] == json.loads(ev.body_of(event))
    assert "ALERT event_parked [portal-events]" in caplog.text
    assert await pipeline.queued() == []


async def test_a_transient_portal_failure_reschedules_with_backoff(pipeline, portal):
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates")
    event = ev.screening_event(ev.uid("cand_"), 70)
    report = await pipeline.runtime.processor.process([QueuedMessage(ev.body_of(event), event["id"])])
    assert report.rescheduled == 1
    [queued] = await pipeline.queued()
    assert queued["message_id"] == event["id"] + ":r1"
    delay = queued["scheduled_enqueue_time"] - queued["enqueued_at"]
    assert timedelta(seconds=0.5) < delay < timedelta(seconds=2)
    assert pipeline.rows("SELECT * FROM webhook_events") == []
