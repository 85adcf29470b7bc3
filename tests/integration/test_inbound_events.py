"""Every event type, from a signed delivery to ATS rows, through the receiver and the processor."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from tests.support import events as ev


async def deliver(pipeline, *events):
    for event in events:
        answer = await pipeline.post(event)
        assert answer.status == 202, answer.body
    return await pipeline.drain()


async def test_candidate_created_becomes_a_new_candidate_with_history(pipeline):
    cand = ev.candidate()
    event = ev.profile_event(cand)
    await deliver(pipeline, event)
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("new", False)
    assert (row["first_name"], row["email"], row["phone"]) == ("Ada", cand["email"], "+442071234567")
    assert row["profile"]["skills"] == ["python", "sql"]
    history = pipeline.rows("SELECT from_stage, to_stage, source_event_id FROM candidate_stage_history")
    assert history == [{"from_stage": None, "to_stage": "new", "source_event_id": event["id"]}]
    recorded = pipeline.rows("SELECT event_id, status, processed, received_at FROM webhook_events")
    assert [(r["event_id"], r["status"], r["processed"]) for r in recorded] == [
        (event["id"], "processed", True)
    ]
    activity = pipeline.rows("SELECT direction, operation, entity_id, outcome FROM portal_activity_log")
    assert activity == [
        {
            "direction": "inbound",
            "operation": "candidate.created",
            "entity_id": cand["id"],
            "outcome": "processed",
        }
    ]


async def test_an_older_profile_never_overwrites_a_newer_one(pipeline):
    cand = ev.candidate()
    newer = ev.profile_event({**cand, "headline": "Lead", "updated_at": ev.at(10)}, kind="candidate.updated")
    older = ev.profile_event({**cand, "headline": "Junior", "updated_at": ev.at(5)}, kind="candidate.updated")
    await deliver(pipeline, ev.profile_event(cand))
    await deliver(pipeline, newer)
    await deliver(pipeline, older)
    row = pipeline.candidate(cand["id"])
    assert row["profile"]["headline"] == "Lead"
    assert row["profile_updated_at"].isoformat().startswith("2026-11-28T10:10")


@pytest.mark.parametrize(
    ("score", "recommendation", "band", "stage", "needs_review"),
    [
        ("82.5", "advance", "strong", "assessment", False),
        ("70", "advance", "strong", "assessment", False),
        ("69.99", "advance", "moderate", "screening", True),
        ("40", "review", "moderate", "screening", True),
        ("39.99", "advance", "weak", "screening", True),
        ("95", "reject", "strong", "screening", True),
        ("3", "reject", "weak", "screening", True),
    ],
)
async def test_screening_bands_and_stage_mapping(pipeline, score, recommendation, band, stage, needs_review):
    cand = ev.candidate()
    screening = ev.screening_event(cand["id"], 0, recommendation)
    body = json.dumps(screening).replace(
        '"score": 0,', f'"score": {score},', 1
    )  # the decimal exactly as sent
    screening = json.loads(body, parse_float=Decimal)
    await deliver(pipeline, ev.profile_event(cand))
    headers, raw = ev.sign(pipeline.secret, screening["id"], body.encode()), body.encode()
    assert (await pipeline.runtime.receiver.receive(headers, raw)).status == 202
    await pipeline.drain()
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == (stage, needs_review)
    assert row["stage"] != "rejected"
    [assessment] = pipeline.rows("SELECT * FROM portal_assessments")
    assert assessment["assessment_type"] == "ai_screening"
    assert assessment["score"] == Decimal(score)
    assert (assessment["band"], assessment["recommendation"], assessment["status"]) == (
        band,
        recommendation,
        "completed",
    )


@pytest.mark.parametrize(
    ("kind", "score", "max_score", "stage", "needs_review"),
    [
        ("coding", 60, 100, "interview", False),
        ("coding", 59.9, 100, "new", True),
        ("coding", 30, 50, "interview", False),
        ("coding", 29, 50, "new", True),
        ("numeracy", 71, None, "interview", False),
    ],
)
async def test_assessment_pass_marks(pipeline, kind, score, max_score, stage, needs_review):
    cand = ev.candidate()
    await deliver(
        pipeline,
        ev.profile_event(cand),
        ev.assessment_event(cand["id"], score, max_score=max_score, assessment_type=kind),
    )
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == (stage, needs_review)
    [assessment] = pipeline.rows("SELECT status, score, passed FROM portal_assessments")
    assert assessment["status"] == "completed"
    assert assessment["passed"] is (stage == "interview")


async def test_failed_assessment_sets_review_and_keeps_the_stage(pipeline):
    cand = ev.candidate()
    await deliver(
        pipeline,
        ev.profile_event(cand),
        ev.screening_event(cand["id"], 90),
        ev.assessment_event(cand["id"], failed=True),
    )
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("assessment", True)
    statuses = {r["assessment_type"]: r["status"] for r in pipeline.rows("SELECT * FROM portal_assessments")}
    assert statuses == {"ai_screening": "completed", "coding": "failed"}


async def test_document_upload_is_pending_with_a_transfer_in_the_outbox(pipeline):
    cand = ev.candidate()
    doc = ev.document_event(cand["id"], portal=pipeline.runtime.settings.portal_base_url)
    await deliver(pipeline, ev.profile_event(cand), doc)
    [row] = pipeline.rows("SELECT * FROM candidate_documents")
    assert (row["status"], row["kind"], row["size_bytes"], row["sha256"]) == (
        "pending",
        "resume",
        1234,
        "a" * 64,
    )
    transfers = await pipeline.queued("document-transfers")
    assert len(transfers) == 1
    assert b"portal_document_id" in bytes(transfers[0]["body"])
    # the same document again with the same hash is a no-op: no second transfer
    again = ev.document_event(
        cand["id"], portal=pipeline.runtime.settings.portal_base_url, doc_id=doc["data"]["document"]["id"]
    )
    await deliver(pipeline, again)
    assert len(await pipeline.queued("document-transfers")) == 1
    assert pipeline.rows("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == [{"n": 0}]


async def test_interview_scheduled_then_cancelled(pipeline):
    cand = ev.candidate()
    request_id = str(uuid.uuid4())
    await deliver(pipeline, ev.profile_event(cand), ev.interview_event(cand["id"], request_id, created=1))
    [interview] = pipeline.rows("SELECT * FROM interviews")
    assert (str(interview["id"]), interview["status"]) == (request_id, "scheduled")
    assert interview["scheduled_start"] is not None
    assert pipeline.candidate(cand["id"])["stage"] == "interview"
    await deliver(pipeline, ev.interview_event(cand["id"], request_id, "cancelled", created=2))
    [interview] = pipeline.rows("SELECT status FROM interviews")
    assert interview["status"] == "cancelled"
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("interview", True)


async def test_a_later_reschedule_wins_over_an_earlier_one_whatever_the_arrival_order(pipeline):
    cand = ev.candidate()
    request_id, interview_id = str(uuid.uuid4()), ev.uid("int_")
    first = ev.interview_event(cand["id"], request_id, interview_id=interview_id, start=100, created=1)
    second = ev.interview_event(cand["id"], request_id, interview_id=interview_id, start=200, created=2)
    await deliver(pipeline, ev.profile_event(cand), second)
    await deliver(pipeline, first)
    [interview] = pipeline.rows("SELECT scheduled_start FROM interviews")
    assert interview["scheduled_start"].isoformat().startswith("2026-11-28T13:20")


async def test_offer_accepted_makes_the_candidate_hired(pipeline):
    cand = ev.candidate()
    offer_id = str(uuid.uuid4())
    await deliver(pipeline, ev.profile_event(cand), ev.offer_event(cand["id"], offer_id))
    [offer] = pipeline.rows("SELECT * FROM offers")
    assert (str(offer["id"]), offer["status"]) == (offer_id, "accepted")
    assert offer["responded_at"] is not None
    assert pipeline.candidate(cand["id"])["stage"] == "hired"
    history = [
        r["to_stage"] for r in pipeline.rows("SELECT to_stage FROM candidate_stage_history ORDER BY id")
    ]
    assert history == ["new", "hired"]


async def test_offer_declined_sets_review(pipeline):
    cand = ev.candidate()
    await deliver(pipeline, ev.profile_event(cand), ev.offer_event(cand["id"], str(uuid.uuid4()), "declined"))
    assert pipeline.rows("SELECT status FROM offers") == [{"status": "declined"}]
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("new", True)


async def test_final_stages_ignore_later_events_but_keep_their_rows(pipeline):
    cand = ev.candidate()
    await deliver(pipeline, ev.profile_event(cand), ev.withdrawn_event(cand["id"], created=1))
    assert pipeline.candidate(cand["id"])["stage"] == "withdrawn"
    await deliver(
        pipeline,
        ev.screening_event(cand["id"], 10, "reject", created=2),
        ev.assessment_event(cand["id"], failed=True, created=3),
    )
    row = pipeline.candidate(cand["id"])
    assert (row["stage"], row["needs_review"]) == ("withdrawn", False)
    assert len(pipeline.rows("SELECT id FROM portal_assessments")) == 2


async def test_stage_never_moves_back(pipeline):
    cand = ev.candidate()
    await deliver(pipeline, ev.profile_event(cand), ev.assessment_event(cand["id"], 90, created=2))
    assert pipeline.candidate(cand["id"])["stage"] == "interview"
    await deliver(pipeline, ev.screening_event(cand["id"], 95, created=3))
    assert pipeline.candidate(cand["id"])["stage"] == "interview"


def _accepted_types() -> set[str]:
    from shared import metrics

    return {
        str(m["labels"]["type"])  # type: ignore[index]
        for m in metrics.snapshot()
        if m["name"] == "deliveries_accepted"
    }


async def test_unknown_event_type_is_accepted_and_stored_as_ignored(pipeline):
    from shared import metrics

    unknown_before = metrics.value("deliveries_accepted", type="unknown")
    types = _accepted_types()
    event = ev.envelope("candidate.teleported", {"candidate": {"id": "cand_x"}})
    await deliver(pipeline, event)
    [row] = pipeline.rows("SELECT status, processed, payload, last_error FROM webhook_events")
    assert (row["status"], row["processed"]) == ("ignored", True)
    assert row["last_error"] == "unknown event type 'candidate.teleported': kept, not applied"
    assert row["payload"]["type"] == "candidate.teleported"
    # one bounded metric label for every unknown type, never the portal's text
    assert metrics.value("deliveries_accepted", type="unknown") == unknown_before + 1
    after = _accepted_types()
    assert "candidate.teleported" not in after - types


async def test_unknown_fields_are_kept_in_the_stored_payload(pipeline):
    cand = ev.candidate(favourite_colour="teal")
    event = ev.profile_event(cand)
    event["portal_extra"] = {"trace": "x"}
    await deliver(pipeline, event)
    [row] = pipeline.rows("SELECT payload FROM webhook_events")
    assert row["payload"]["portal_extra"] == {"trace": "x"}
    assert pipeline.candidate(cand["id"])["profile"]["favourite_colour"] == "teal"


async def test_stage_rules_from_settings_change_the_outcome_without_code(
    portal_environ, webhook_secret, database_url
):
    from shared.runtime import Runtime
    from tests.support.pipeline import Pipeline

    environ = {
        **portal_environ,
        "STAGE_RULES": '{"screening": {"advance/moderate": {"stage": "assessment"}}}',
        "PASS_MARKS": '{"default": 60, "coding": 80}',
        "SCORE_BANDS": '{"weak": 0, "moderate": 50, "strong": 90}',
    }
    pipe = Pipeline(await Runtime.from_environ(environ), webhook_secret, database_url)
    try:
        moderate, weak = ev.candidate(), ev.candidate()
        await deliver(
            pipe,
            ev.profile_event(moderate),
            ev.profile_event(weak),
            ev.screening_event(moderate["id"], 60),
            ev.screening_event(weak["id"], 45),
            ev.assessment_event(moderate["id"], 75, assessment_type="coding", created=5),
        )
        assert pipe.candidate(moderate["id"])["stage"] == "assessment"  # moderate (50..90) advances by rule
        assert (pipe.candidate(moderate["id"])["needs_review"]) is True  # 75 < coding pass mark 80
        assert (pipe.candidate(weak["id"])["stage"], pipe.candidate(weak["id"])["needs_review"]) == (
            "screening",
            True,
        )
        bands = {
            r["score"]: r["band"]
            for r in pipe.rows("SELECT score, band FROM portal_assessments WHERE band IS NOT NULL")
        }
        assert bands == {60: "moderate", 45: "weak"}
    finally:
        await pipe.close()


async def test_a_profile_naming_its_ats_id_keeps_it_unless_taken(pipeline):
    ats_id = str(uuid.uuid4())
    first, second = ev.candidate(ats_candidate_id=ats_id), ev.candidate(ats_candidate_id=ats_id)
    await deliver(pipeline, ev.profile_event(first))
    await deliver(pipeline, ev.profile_event(second))
    assert str(pipeline.candidate(first["id"])["id"]) == ats_id
    assert str(pipeline.candidate(second["id"])["id"]) != ats_id  # another candidate holds it
