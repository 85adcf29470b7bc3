"""``Idempotency-Key`` exactly as the contract says: required UUID on every POST; a 2xx replayed
for 24 h and nothing done twice; errors not remembered; another body after a 2xx is 409, where
"another" means another JSON value (key order and white space do not matter)."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import httpx
import pytest

from portal_simulator.clock import ManualClock
from portal_simulator.testing import RunningSimulator, running_simulator
from tests.portal_simulator.conftest import SESSION_LOOP, fast_config
from tests.portal_simulator.receiver import Receiver

pytestmark = [pytest.mark.unit, SESSION_LOOP]


def interview_body(candidate_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "candidate_id": candidate_id,
        "duration_minutes": 45,
        "proposed_slots": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:45:00Z"}],
        "timezone": "Europe/London",
        **changes,
    }


async def test_a_repeated_key_gets_the_first_answer_and_nothing_is_done_twice(
    portal: RunningSimulator, receiver: Receiver, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    body, key = interview_body(candidate["id"]), str(uuid.uuid4())
    first = await rest.post("/v1/interview-requests", json=body, headers={"idempotency-key": key})
    again = await rest.post("/v1/interview-requests", json=body, headers={"idempotency-key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await portal.admin.interview_requests()) == 1
    await portal.admin.settle(timeout_seconds=5)
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["interview.scheduled"]


async def test_key_order_and_white_space_do_not_make_a_different_body(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    body, key = interview_body(candidate["id"]), str(uuid.uuid4())
    compact = json.dumps(body, separators=(",", ":")).encode()
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4).encode()
    headers = {"idempotency-key": key, "content-type": "application/json"}
    first = await rest.post("/v1/interview-requests", content=compact, headers=headers)
    second = await rest.post("/v1/interview-requests", content=reordered, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()


async def test_the_same_key_with_a_different_body_after_a_2xx_is_409(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    body, key = interview_body(candidate["id"]), str(uuid.uuid4())
    assert (
        await rest.post("/v1/interview-requests", json=body, headers={"idempotency-key": key})
    ).status_code == 201
    changed = {**body, "duration_minutes": 60}
    conflict = await rest.post("/v1/interview-requests", json=changed, headers={"idempotency-key": key})
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert len(await portal.admin.interview_requests()) == 1


async def test_the_same_key_on_another_endpoint_is_409(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    key = str(uuid.uuid4())
    status = {"stage": "screening"}
    path = f"/v1/candidates/{candidate['id']}/status"
    assert (await rest.post(path, json=status, headers={"idempotency-key": key})).status_code == 200
    other = await rest.post("/v1/interview-requests", json=status, headers={"idempotency-key": key})
    assert other.status_code == 409


async def test_an_error_is_not_remembered_so_the_key_can_be_sent_again(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    key = str(uuid.uuid4())
    broken = interview_body(candidate["id"], timezone="Mars/Olympus_Mons")
    failed = await rest.post("/v1/interview-requests", json=broken, headers={"idempotency-key": key})
    assert failed.status_code == 422
    fixed = await rest.post(
        "/v1/interview-requests", json=interview_body(candidate["id"]), headers={"idempotency-key": key}
    )
    assert fixed.status_code == 201


async def test_an_injected_500_is_not_remembered(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    candidate = await portal.admin.seed_candidate()
    body, key = interview_body(candidate["id"]), str(uuid.uuid4())
    await portal.admin.add_fault("error_500", count=1, path_prefix="/v1/interview-requests")
    assert (
        await rest.post("/v1/interview-requests", json=body, headers={"idempotency-key": key})
    ).status_code == 500
    assert (
        await rest.post("/v1/interview-requests", json=body, headers={"idempotency-key": key})
    ).status_code == 201


@pytest.mark.parametrize(
    ("headers", "reason"), [({}, "required"), ({"idempotency-key": "abc-123"}, "not a UUID")]
)
async def test_a_post_without_a_uuid_key_is_400(
    portal: RunningSimulator, rest: httpx.AsyncClient, headers: dict[str, str], reason: str
) -> None:
    candidate = await portal.admin.seed_candidate()
    response = await rest.post(
        "/v1/interview-requests", json=interview_body(candidate["id"]), headers=headers
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "Idempotency-Key"
    assert reason in error["message"] or reason in response.json()["title"]
    assert await portal.admin.interview_requests() == []


async def test_answers_are_remembered_for_24_hours_by_the_injected_clock(receiver: Receiver) -> None:
    clock = ManualClock()
    async with running_simulator(fast_config(receiver), clock=clock, data_rng=random.Random(1)) as portal:
        candidate = await portal.admin.seed_candidate()
        path, key = f"/v1/candidates/{candidate['id']}/status", str(uuid.uuid4())
        async with portal.rest_client() as rest:
            assert (
                await rest.post(path, json={"stage": "interview"}, headers={"idempotency-key": key})
            ).is_success
            clock.advance(24 * 3600 - 1)
            replay = await rest.post(path, json={"stage": "offer"}, headers={"idempotency-key": key})
            assert replay.status_code == 409
            clock.advance(1)
            fresh = await rest.post(path, json={"stage": "offer"}, headers={"idempotency-key": key})
            assert fresh.status_code == 200
            assert fresh.json()["stage"] == "offer"
        assert [u["stage"] for u in await portal.admin.status_updates()] == ["interview", "offer"]
