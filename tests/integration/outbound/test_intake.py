"""The queue part: each ATS command becomes one sync_queue row and, in effect, one portal call;
what cannot be valid fails at once with its reason; entities only ever move forward."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest

from shared.outcomes import Failed, Ignored, Processed
from tests.support import ats


def alerts(caplog, kind: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"ALERT {kind} ")]


async def test_an_interview_request_reaches_the_portal_once_and_its_interview_is_pending(outbound):
    cand, portal_id = await outbound.candidate()
    cmd = ats.interview_request(cand)
    assert await outbound.send(cmd) == Processed()
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["http_status"], row["operation_type"]) == (
        "completed",
        0,
        201,
        "interview.request",
    )
    assert row["entity_id"] == cmd["data"]["request_id"]
    [sent] = await outbound.portal.admin.interview_requests()
    assert sent["request"] == {**cmd["data"], "candidate_id": portal_id}
    assert await outbound.by_key("POST /v1/interview-requests") == {
        cmd["command_id"]: {"by_status": {"201": 1}, "replayed": 0}
    }
    [interview] = outbound.rows("SELECT * FROM interviews")
    assert str(interview["id"]) == cmd["data"]["request_id"]
    assert (interview["status"], interview["portal_request_id"]) == ("pending", sent["id"])
    assert str(interview["candidate_id"]) == cand
    assert interview["timezone"] == "Europe/London"
    [call] = outbound.rows("SELECT operation, entity_id, outcome, http_status FROM portal_activity_log")
    assert call == {
        "operation": "POST /v1/interview-requests",
        "entity_id": cmd["data"]["request_id"],
        "outcome": "succeeded",
        "http_status": 201,
    }


async def test_an_offer_is_sent_and_moves_the_stage_forward_to_offer(outbound):
    cand, _ = await outbound.candidate(stage="interview")
    cmd = ats.offer(cand)
    assert await outbound.send(cmd) == Processed()
    [offer] = outbound.rows("SELECT status, portal_offer_id, details FROM offers")
    [taken] = await outbound.portal.admin.offers()
    assert (offer["status"], offer["portal_offer_id"]) == ("sent", taken["id"])
    assert offer["details"]["ats"]["title"] == "Data Analyst"
    assert outbound.stage(cand) == "offer"
    history = outbound.rows(
        "SELECT from_stage, to_stage, reason, source_event_id FROM candidate_stage_history"
    )
    assert history == [
        {
            "from_stage": "interview",
            "to_stage": "offer",
            "reason": "offer.send",
            "source_event_id": cmd["command_id"],
        }
    ]


@pytest.mark.parametrize("stage", ["hired", "withdrawn", "rejected", "offer"])
async def test_an_offer_never_moves_a_final_or_equal_stage(outbound, stage):
    cand, _ = await outbound.candidate(stage=stage)
    assert await outbound.send(ats.offer(cand)) == Processed()
    assert outbound.stage(cand) == stage
    assert outbound.rows("SELECT to_stage FROM candidate_stage_history") == []
    assert outbound.rows("SELECT status FROM offers") == [{"status": "sent"}]


async def test_a_status_command_sets_the_stage_at_once_whatever_the_portal_answers(outbound):
    cand, _ = await outbound.candidate(stage="hired")
    await outbound.portal.admin.add_fault("error_503", path_prefix="/v1/candidates")
    cmd = ats.status(cand, "rejected", "position filled")
    assert await outbound.send(cmd) == Processed()
    assert outbound.stage(cand) == "rejected"  # out of a final stage: the ATS is the authority
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["http_status"]) == ("pending", 1, 503)
    back = ats.status(cand, "screening")
    await outbound.send(back)
    assert outbound.stage(cand) == "screening"  # and it may move back
    history = outbound.rows("SELECT from_stage, to_stage, reason FROM candidate_stage_history ORDER BY id")
    assert history == [
        {"from_stage": "hired", "to_stage": "rejected", "reason": "candidate.status"},
        {"from_stage": "rejected", "to_stage": "screening", "reason": "candidate.status"},
    ]


async def test_a_command_delivered_twice_is_one_row_and_one_call(outbound):
    cand, _ = await outbound.candidate()
    cmd = ats.offer(cand)
    outcomes = await asyncio.gather(*(outbound.send(cmd, delivery_count=n) for n in (1, 2, 3)))
    assert sorted(type(o).__name__ for o in outcomes) == ["Ignored", "Ignored", "Processed"]
    assert await outbound.send(cmd) == Ignored("duplicate command: already recorded")
    assert len(outbound.rows("SELECT 1 FROM sync_queue")) == 1
    assert len(await outbound.portal.admin.offers()) == 1
    assert (await outbound.calls("POST /v1/offers"))["total"] == 1


async def test_a_duplicate_of_a_failed_command_does_not_ask_again(outbound):
    cand, _ = await outbound.candidate(on_portal=False)
    cmd = ats.interview_request(cand)
    assert isinstance(await outbound.send(cmd), Processed)  # taken, then refused by the portal
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "failed"}]
    assert await outbound.send(cmd) == Ignored("duplicate command: already recorded")
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "failed"}]


def _unknown_candidate(cand: str) -> dict:
    return ats.interview_request(str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("build", "reason", "entity"),
    [
        (_unknown_candidate, "candidate_id: unknown candidate", None),
        (
            lambda c: ats.interview_request(
                c, proposed_slots=[{"start": "2027-01-11T10:00:00Z", "end": "2027-01-11T09:00:00Z"}]
            ),
            "data.proposed_slots.0: ends before it starts",
            "failed",
        ),
        (
            lambda c: ats.interview_request(c, duration_minutes="45", timezone="Mars/Olympus"),
            "data.duration_minutes: must be an integer; data.timezone: not an IANA time zone",
            "failed",
        ),
        (
            lambda c: ats.offer(c, salary={"amount": 85000, "currency": "GBP"}),
            "data.salary.amount: must be a decimal amount as a string, e.g. '85000.00'",
            "failed",
        ),
        (lambda c: ats.command("offer.send", c, {"title": "x"}), "data.offer_id: required", None),
        (lambda c: ats.status(c, "promoted"), "data.stage: must be one of", None),
        (
            lambda c: ats.command("candidate.delete", c, {}),
            "type: must be one of interview.request, offer.send, candidate.status",
            None,
        ),
        (lambda c: {**ats.offer(c), "candidate_id": "42"}, "candidate_id: not a UUID", None),
    ],
)
async def test_a_command_that_cannot_be_valid_fails_at_once_and_is_never_sent(
    outbound, caplog, build, reason, entity
):
    cand, _ = await outbound.candidate(stage="interview")
    cmd = build(cand)
    caplog.set_level(logging.ERROR, logger="shared.alerts")
    outcome = await outbound.send(cmd)
    assert isinstance(outcome, Failed)
    assert outcome.reason.startswith(reason)
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["last_attempt"]) == ("failed", 0, None)
    assert row["last_error"] == outcome.reason
    assert row["payload"]["command"] == cmd
    entities = outbound.rows("SELECT status FROM interviews UNION ALL SELECT status FROM offers")
    assert entities == ([{"status": entity}] if entity else [])
    assert outbound.stage(cand) == "interview"
    stats = await outbound.portal.admin.stats()
    assert not any(route.startswith("POST") for route in stats["requests"])
    assert len(alerts(caplog, "sync_failed")) == 1
    assert alerts(caplog, "sync_failed")[0].startswith(f"ALERT sync_failed [{cmd['command_id']}]")
    await outbound.tick(3600)
    assert outbound.row(cmd["command_id"])["status"] == "failed"


async def test_an_interview_or_offer_of_another_candidate_is_refused(outbound):
    first, _ = await outbound.candidate()
    second, _ = await outbound.candidate()
    cmd = ats.offer(first)
    await outbound.send(cmd)
    other = ats.offer(second, offer_id=cmd["data"]["offer_id"])
    outcome = await outbound.send(other)
    assert outcome == Failed("data.offer_id: belongs to another candidate")
    assert outbound.rows("SELECT status, candidate_id::text AS c FROM offers") == [
        {"status": "sent", "c": first}
    ]
    assert len(await outbound.portal.admin.offers()) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "the message body is not JSON"),
        (b"[1, 2]", "the message body is not a JSON object"),
        (json.dumps({"type": "offer.send", "data": {}}).encode(), "no command_id"),
        (json.dumps({"command_id": "abc", "type": "offer.send"}).encode(), "command_id is not a UUID"),
    ],
)
async def test_a_message_without_a_usable_command_id_is_parked_with_an_alert(outbound, caplog, body, reason):
    caplog.set_level(logging.ERROR, logger="shared.alerts")
    outcome = await outbound.send(body, message_id="msg-1")
    assert outcome == Failed(f"parked: {reason}")
    [parked] = outbound.rows("SELECT queue, message_id, reason, body FROM parked_messages")
    assert (parked["queue"], parked["message_id"], parked["reason"]) == ("ats-outbound", "msg-1", reason)
    assert outbound.rows("SELECT 1 FROM sync_queue") == []
    assert alerts(caplog, "command_parked") == [
        f"ALERT command_parked [msg-1]: ats-outbound message parked: {reason}"
    ]


async def test_a_newer_status_supersedes_an_older_pending_one_which_is_never_sent(outbound):
    cand, portal_id = await outbound.candidate()
    await outbound.portal.admin.add_fault("error_503", path_prefix="/v1/candidates", count=1)
    older = ats.status(cand, "offer")
    await outbound.send(older)
    assert outbound.row(older["command_id"])["status"] == "pending"
    newer = ats.status(cand, "rejected")
    assert await outbound.send(newer) == Processed()
    old_row, new_row = outbound.row(older["command_id"]), outbound.row(newer["command_id"])
    assert (old_row["status"], old_row["superseded_by"]) == ("completed", new_row["id"])
    assert new_row["status"] == "completed"
    await outbound.tick(60)
    updates = await outbound.portal.admin.status_updates()
    assert [(u["candidate_id"], u["stage"]) for u in updates] == [(portal_id, "rejected")]
    assert outbound.stage(cand) == "rejected"


async def test_a_candidates_commands_go_in_order_behind_one_that_waits(outbound):
    cand, _ = await outbound.candidate()
    await outbound.portal.admin.add_fault("error_503", path_prefix="/v1/candidates", count=1)
    first = ats.status(cand, "interview", "moved on")
    await outbound.send(first)
    second = ats.interview_request(cand)
    assert await outbound.send(second) == Processed()
    waiting = outbound.row(second["command_id"])
    assert (waiting["status"], waiting["retry_count"], waiting["last_attempt"]) == ("pending", 0, None)
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "requested"}]
    assert await outbound.portal.admin.interview_requests() == []
    report = await outbound.tick(0.5)  # the status change is not due yet: neither is what follows
    assert report.claimed == 0
    await outbound.tick(1.0)  # attempt 2 of the status change, then the interview request
    assert [outbound.row(c["command_id"])["status"] for c in (first, second)] == ["completed", "completed"]
    [update] = await outbound.portal.admin.status_updates()
    [request] = await outbound.portal.admin.interview_requests()
    assert update["received_at"] <= request["created_at"]
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "pending"}]
