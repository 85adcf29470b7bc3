"""The portal's REST API: bearer key, candidates, interview requests, offers, status updates,
documents and health, with problem+json errors naming the fields."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from portal_simulator.testing import RunningSimulator
from tests.portal_simulator.conftest import SESSION_LOOP

pytestmark = [pytest.mark.unit, SESSION_LOOP]


def key() -> dict[str, str]:
    return {"idempotency-key": str(uuid.uuid4())}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "Basic abc", "bearer"])
async def test_a_call_without_the_right_bearer_key_is_401_problem(
    portal: RunningSimulator, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=portal.base_url, headers=headers) as client:
        for method, path in (("GET", "/v1/health"), ("GET", "/v1/candidates/cand_x"), ("POST", "/v1/offers")):
            response = await client.request(method, path, json={}, headers=key())
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 401
            assert response.headers["www-authenticate"] == "Bearer"


async def test_health_answers_ok(rest: httpx.AsyncClient) -> None:
    response = await rest.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_seeded_candidate_is_served_as_its_full_profile(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    profile = {
        "id": "cand_ada",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "requisition_id": "REQ-2026-0042",
        "work_history": [],
        "education": [],
        "skills": ["python"],
        "consents": {"data_processing": True},
        "updated_at": "2026-11-28T09:59:00Z",
    }
    assert await portal.admin.seed_candidate(profile) == profile
    response = await rest.get("/v1/candidates/cand_ada")
    assert response.status_code == 200
    assert response.json() == {"candidate": profile}


async def test_an_unknown_candidate_is_404_problem(rest: httpx.AsyncClient) -> None:
    response = await rest.get("/v1/candidates/cand_nobody")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_interview_request_is_taken_as_pending(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    request_id = str(uuid.uuid4())
    body = {
        "request_id": request_id,
        "candidate_id": candidate["id"],
        "duration_minutes": 45,
        "proposed_slots": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:45:00Z"}],
        "timezone": "Europe/London",
    }
    response = await rest.post("/v1/interview-requests", json=body, headers=key())
    assert response.status_code == 201
    answer = response.json()
    assert answer["id"].startswith("ireq_")
    assert answer["request_id"] == request_id
    assert answer["status"] == "pending"
    taken_again = await rest.post("/v1/interview-requests", json=body, headers=key())
    assert taken_again.status_code == 409


async def test_an_interview_request_for_an_unknown_candidate_is_422_on_candidate_id(
    rest: httpx.AsyncClient,
) -> None:
    body = {
        "request_id": str(uuid.uuid4()),
        "candidate_id": "cand_unknown",
        "duration_minutes": 45,
        "proposed_slots": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:45:00Z"}],
        "timezone": "Europe/London",
    }
    response = await rest.post("/v1/interview-requests", json=body, headers=key())
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "candidate_id", "message": "unknown candidate"}]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"request_id": "not-a-uuid"}, {"request_id"}),
        ({"duration_minutes": "45"}, {"duration_minutes"}),
        ({"timezone": "Europe/Atlantis"}, {"timezone"}),
        ({"proposed_slots": []}, {"proposed_slots"}),
        (
            {"proposed_slots": [{"start": "2026-12-01T10:00:00", "end": "2026-12-01T11:00:00Z"}]},
            {"proposed_slots.0.start"},
        ),
        (
            {"proposed_slots": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T09:00:00Z"}]},
            {"proposed_slots.0"},
        ),
        ({"candidate_id": "usr_1", "request_id": 7}, {"candidate_id", "request_id"}),
    ],
)
async def test_an_invalid_interview_request_is_422_naming_each_field(
    portal: RunningSimulator, rest: httpx.AsyncClient, changes: dict[str, Any], fields: set[str]
) -> None:
    candidate = await portal.admin.seed_candidate()
    body = {
        "request_id": str(uuid.uuid4()),
        "candidate_id": candidate["id"],
        "duration_minutes": 45,
        "proposed_slots": [{"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:45:00Z"}],
        "timezone": "Europe/London",
        **changes,
    }
    response = await rest.post("/v1/interview-requests", json=body, headers=key())
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "about:blank"
    assert {e["field"] for e in problem["errors"]} == fields
    assert all(e["message"] for e in problem["errors"])


async def test_an_offer_is_sent_and_validated(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    candidate = await portal.admin.seed_candidate()
    body = {
        "offer_id": str(uuid.uuid4()),
        "candidate_id": candidate["id"],
        "title": "Data Analyst",
        "salary": {"amount": "85000.00", "currency": "GBP"},
        "start_date": "2027-01-04",
        "expires_at": "2026-12-15T17:00:00+01:00",
    }
    response = await rest.post("/v1/offers", json=body, headers=key())
    assert response.status_code == 201
    assert response.json()["status"] == "sent"
    bad = {**body, "offer_id": str(uuid.uuid4()), "salary": {"amount": 85000, "currency": "XXY"}}
    rejected = await rest.post("/v1/offers", json=bad, headers=key())
    assert rejected.status_code == 422
    assert {e["field"] for e in rejected.json()["errors"]} == {"salary.amount", "salary.currency"}


async def test_a_status_update_is_recorded(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    candidate = await portal.admin.seed_candidate()
    path = f"/v1/candidates/{candidate['id']}/status"
    response = await rest.post(path, json={"stage": "rejected", "message": "Thank you"}, headers=key())
    assert response.status_code == 200
    assert response.json()["stage"] == "rejected"
    (update,) = await portal.admin.status_updates()
    assert (update["candidate_id"], update["stage"], update["message"]) == (
        candidate["id"],
        "rejected",
        "Thank you",
    )
    assert (
        await rest.post("/v1/candidates/cand_nobody/status", json={"stage": "x"}, headers=key())
    ).status_code == 404
    assert (await rest.post(path, json={"stage": ""}, headers=key())).status_code == 422


async def test_a_body_that_is_not_json_is_400(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    response = await rest.post("/v1/offers", content=b"{not json", headers=key())
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_document_is_404(rest: httpx.AsyncClient) -> None:
    assert (await rest.get("/v1/documents/doc_nothing/content")).status_code == 404


async def test_an_unknown_path_or_method_is_problem_json(rest: httpx.AsyncClient) -> None:
    missing = await rest.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = await rest.delete("/v1/health")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"
