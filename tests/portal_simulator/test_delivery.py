"""Webhook delivery like a real portal: retries on 5xx and on no answer with backoff, a fresh
signature per attempt, no retry on 4xx; every attempt recorded; the answers to interview
requests and offers follow with the same request_id / offer_id."""

from __future__ import annotations

import json
import random
import uuid

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from portal_simulator.server import bind
from portal_simulator.testing import RunningSimulator, running_simulator
from tests.portal_simulator.conftest import SECRETS, SESSION_LOOP, fast_config
from tests.portal_simulator.receiver import Receiver

pytestmark = [pytest.mark.unit, SESSION_LOOP]


async def test_a_5xx_is_retried_until_accepted_and_each_attempt_is_signed_afresh(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    receiver.statuses = [503, 500]
    (item,) = await portal.admin.generate_events("screening.completed")
    assert item["delivery"]["status"] == 503
    assert item["delivery"]["outcome"] == "retrying"
    attempts = await receiver.wait_for(3)
    assert {a.headers["webhook-id"] for a in attempts} == {item["event"]["id"]}
    for attempt in attempts:
        Webhook(SECRETS.split()[0]).verify(attempt.body, attempt.headers)
    await portal.admin.settle(timeout_seconds=5)
    (delivery,) = await portal.admin.deliveries(item["event"]["id"])
    assert delivery["outcome"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [503, 500, 202]


async def test_a_4xx_is_not_retried(portal: RunningSimulator, receiver: Receiver) -> None:
    receiver.statuses = [422]
    (item,) = await portal.admin.generate_events("screening.completed")
    assert item["delivery"]["outcome"] == "rejected"
    assert item["delivery"]["status"] == 422
    await portal.admin.settle(timeout_seconds=1)
    assert len(receiver.received) == 1
    stats = await portal.admin.stats()
    assert stats["webhooks"]["attempts_by_result"] == {"422": 1}
    assert stats["webhooks"]["deliveries_by_outcome"] == {"rejected": 1}


async def test_connection_refused_is_retried_with_backoff_then_given_up(receiver: Receiver) -> None:
    closed = bind("127.0.0.1", 0)
    port = closed.getsockname()[1]
    closed.close()
    config = fast_config(receiver, ats_url=f"http://127.0.0.1:{port}/api/portal/webhooks")
    async with running_simulator(config) as portal:
        (item,) = await portal.admin.generate_events("candidate.created")
        assert item["delivery"]["attempts"][0]["error"] == "connection_error"
        await portal.admin.settle(timeout_seconds=5)
        (delivery,) = await portal.admin.deliveries()
        assert delivery["outcome"] == "gave_up"
        assert [a["error"] for a in delivery["attempts"]] == ["connection_error"] * config.retry.max_attempts
        stats = await portal.admin.stats()
        assert stats["webhooks"]["attempts_by_result"] == {"connection_error": config.retry.max_attempts}


async def test_a_duplicate_is_delivered_again_with_the_same_id(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    items = await portal.admin.generate_events("screening.completed", count=4, duplicate_rate=1.0)
    assert len(items) == 8
    received = await receiver.wait_for(8)
    ids = [r.headers["webhook-id"] for r in received]
    assert sorted(ids) == sorted(i["event"]["id"] for i in items)
    assert len(set(ids)) == 4


async def _request_interview(rest: httpx.AsyncClient, candidate_id: str) -> dict[str, object]:
    body = {
        "request_id": str(uuid.uuid4()),
        "candidate_id": candidate_id,
        "duration_minutes": 45,
        "proposed_slots": [
            {"start": "2026-12-01T10:00:00+00:00", "end": "2026-12-01T10:45:00+00:00"},
            {"start": "2026-12-02T14:00:00Z", "end": "2026-12-02T14:45:00Z"},
        ],
        "timezone": "Europe/London",
        "interviewers": ["Grace Hopper"],
    }
    response = await rest.post(
        "/v1/interview-requests", json=body, headers={"idempotency-key": str(uuid.uuid4())}
    )
    assert response.status_code == 201
    return body


async def test_an_interview_request_is_answered_scheduled_for_the_same_request_id(
    portal: RunningSimulator, receiver: Receiver, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    body = await _request_interview(rest, candidate["id"])
    (delivery,) = await receiver.wait_for(1)
    event = Webhook(SECRETS.split()[1]).verify(delivery.body, delivery.headers)
    assert event["type"] == "interview.scheduled"
    interview = event["data"]["interview"]
    assert interview["request_id"] == body["request_id"]
    assert interview["candidate_id"] == candidate["id"]
    assert interview["id"].startswith("int_")
    assert interview["status"] == "scheduled"
    assert (interview["scheduled_start"], interview["scheduled_end"]) == (
        "2026-12-01T10:00:00+00:00",
        "2026-12-01T10:45:00+00:00",
    )
    assert interview["timezone"] == "Europe/London"


async def test_interview_decline_share_and_delay_are_configurable(
    portal: RunningSimulator, receiver: Receiver, rest: httpx.AsyncClient
) -> None:
    await portal.admin.update_settings(interview_decline_rate=1.0, followup_delay_seconds=0.0)
    candidate = await portal.admin.seed_candidate()
    body = await _request_interview(rest, candidate["id"])
    (delivery,) = await receiver.wait_for(1)
    event = json.loads(delivery.body)
    assert event["type"] == "interview.declined"
    assert event["data"]["interview"]["request_id"] == body["request_id"]
    (record,) = await portal.admin.interview_requests()
    assert record["planned_answer"] == "declined"
    assert record["answer_event_id"] == event["id"]


async def test_with_followups_off_requests_are_taken_and_never_answered(
    portal: RunningSimulator, receiver: Receiver, rest: httpx.AsyncClient
) -> None:
    settings = await portal.admin.update_settings(followups=False, followup_delay_seconds=0.0)
    assert settings["followups"] is False
    candidate = await portal.admin.seed_candidate()
    body = await _request_interview(rest, candidate["id"])
    await portal.admin.settle(timeout_seconds=2)
    assert receiver.received == []
    (record,) = await portal.admin.interview_requests()
    assert (record["request_id"], record["answer_event_id"]) == (body["request_id"], None)


@pytest.mark.parametrize(("decline_rate", "answer"), [(0.0, "accepted"), (1.0, "declined")])
async def test_an_offer_is_answered_for_the_same_offer_id(
    portal: RunningSimulator, receiver: Receiver, rest: httpx.AsyncClient, decline_rate: float, answer: str
) -> None:
    await portal.admin.update_settings(offer_decline_rate=decline_rate)
    candidate = await portal.admin.seed_candidate()
    offer_id = str(uuid.uuid4())
    body = {
        "offer_id": offer_id,
        "candidate_id": candidate["id"],
        "title": "Data Analyst",
        "salary": {"amount": "85000.00", "currency": "GBP"},
        "start_date": "2027-01-04",
        "expires_at": "2026-12-15T17:00:00Z",
    }
    response = await rest.post("/v1/offers", json=body, headers={"idempotency-key": str(uuid.uuid4())})
    assert response.status_code == 201
    portal_offer = response.json()
    assert portal_offer["status"] == "sent"
    assert portal_offer["offer_id"] == offer_id
    assert portal_offer["id"].startswith("off_")
    (delivery,) = await receiver.wait_for(1)
    event = json.loads(delivery.body)
    assert event["type"] == f"offer.{answer}"
    offer = event["data"]["offer"]
    assert (offer["id"], offer["offer_id"], offer["status"]) == (portal_offer["id"], offer_id, answer)
    assert ("start_date" in offer) == (answer == "accepted")


async def test_seeded_simulators_plan_the_same_answers(receiver: Receiver) -> None:
    plans = []
    for _ in range(2):
        async with running_simulator(
            fast_config(receiver, interview_decline_rate=0.5), data_rng=random.Random(5)
        ) as portal:
            plans.append([portal.simulator.followups.plan_interview_answer() for _ in range(20)])
    assert plans[0] == plans[1]
    assert set(plans[0]) == {"scheduled", "declined"}


async def test_bulk_import_is_signed_ndjson_with_a_batch_id(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    answer = await portal.admin.bulk_import(count=12, invalid_lines=3)
    (request,) = await receiver.wait_for(1)
    assert request.path == "/api/portal/candidates/import"
    assert request.headers["content-type"] == "application/x-ndjson"
    assert request.headers["webhook-id"] == answer["batch_id"]
    assert answer["batch_id"].startswith("bat_")
    Webhook(SECRETS.split()[0]).verify(request.body, request.headers, json_parse=False)
    lines = [json.loads(line) for line in request.body.decode().splitlines()]
    assert len(lines) == 12
    assert {line["type"] for line in lines} <= {"candidate.created", "candidate.updated"}
    assert sum(1 for line in answer["lines"] if line["invalid"]) == 3
    assert [line["event"]["id"] for line in answer["lines"]] == [line["id"] for line in lines]
    assert answer["delivery"]["outcome"] == "delivered"
