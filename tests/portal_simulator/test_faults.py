"""Every fault kind, observed from an httpx client as the ATS would see it; targeting by path
prefix, "next N calls" and a seeded rate; the admin API is never faulted."""

from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import pytest

from portal_simulator.testing import RunningSimulator
from tests.portal_simulator.conftest import SESSION_LOOP

pytestmark = [pytest.mark.unit, SESSION_LOOP]


async def test_error_500(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    await portal.admin.add_fault("error_500", count=1)
    response = await rest.get("/v1/health")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert (await rest.get("/v1/health")).status_code == 200


@pytest.mark.parametrize(("kind", "status"), [("error_503", 503), ("error_429", 429)])
async def test_503_and_429_carry_retry_after(
    portal: RunningSimulator, rest: httpx.AsyncClient, kind: str, status: int
) -> None:
    await portal.admin.add_fault(kind, count=1, retry_after_seconds=7)
    response = await rest.get("/v1/health")
    assert response.status_code == status
    assert response.headers["retry-after"] == "7"


async def test_latency_delays_the_answer(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    await portal.admin.add_fault("latency", latency_ms=300)
    started = time.perf_counter()
    response = await rest.get("/v1/health")
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


async def test_timeout_holds_the_call_longer_than_the_client_waits(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    await portal.admin.add_fault("timeout", count=1, hang_seconds=30)
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        await rest.get("/v1/health", timeout=0.3)
    assert time.perf_counter() - started < 5
    assert (await rest.get("/v1/health")).status_code == 200
    stats = await portal.admin.stats()
    assert stats["requests"]["GET /v1/health"]["by_status"] == {"timeout": 1, "200": 1}


async def test_a_held_call_ends_with_504_after_hang_seconds(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    await portal.admin.add_fault("timeout", count=1, hang_seconds=0.2)
    assert (await rest.get("/v1/health")).status_code == 504


async def test_reset_closes_the_connection_without_an_answer(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    await portal.admin.add_fault("reset", count=1)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await rest.get("/v1/health")
    assert (await rest.get("/v1/health")).status_code == 200
    stats = await portal.admin.stats()
    assert stats["requests"]["GET /v1/health"]["by_status"] == {"reset": 1, "200": 1}
    assert stats["faults"] == {"reset": 1}


async def test_a_corrupt_document_does_not_match_its_announced_sha256(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    (item,) = await portal.admin.generate_events("document.uploaded", deliver=False)
    document = item["event"]["data"]["document"]
    await portal.admin.add_fault("corrupt_document", count=1)
    corrupt = await rest.get(document["download_url"])
    assert corrupt.status_code == 200
    assert len(corrupt.content) == document["size_bytes"]
    assert hashlib.sha256(corrupt.content).hexdigest() != document["sha256"]
    intact = await rest.get(document["download_url"])
    assert hashlib.sha256(intact.content).hexdigest() == document["sha256"]


async def test_a_cut_document_sends_its_length_then_breaks_the_connection(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    (item,) = await portal.admin.generate_events(
        "document.uploaded", deliver=False, document={"content_type": "text/plain", "size_bytes": 300_000}
    )
    document = item["event"]["data"]["document"]
    await portal.admin.add_fault("cut_document", count=1, cut_after_bytes=100_000)
    received: list[bytes] = []

    async def download() -> None:
        async with rest.stream("GET", document["download_url"]) as response:
            assert response.headers["content-length"] == "300000"
            async for chunk in response.aiter_raw():
                received.append(chunk)

    with pytest.raises(httpx.TransportError):  # a reset: ReadError (or an incomplete body)
        await download()
    assert len(b"".join(received)) == 100_000
    intact = await rest.get(document["download_url"])
    assert hashlib.sha256(intact.content).hexdigest() == document["sha256"]
    stats = await portal.admin.stats()
    assert stats["requests"]["GET /v1/documents/{doc_id}/content"]["by_status"] == {"cut": 1, "200": 1}


async def test_an_oversize_document_sends_more_than_announced_without_a_length(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    (item,) = await portal.admin.generate_events("document.uploaded", deliver=False)
    document = item["event"]["data"]["document"]
    await portal.admin.add_fault("oversize_document", count=1, extra_bytes=5000)
    response = await rest.get(document["download_url"])
    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert len(response.content) == document["size_bytes"] + 5000
    assert hashlib.sha256(response.content[: document["size_bytes"]]).hexdigest() == document["sha256"]


async def test_a_redirect_points_elsewhere_and_does_nothing_else(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    (item,) = await portal.admin.generate_events("document.uploaded", deliver=False)
    document = item["event"]["data"]["document"]
    await portal.admin.add_fault("redirect", count=1, path_prefix="/v1/documents/")
    response = await rest.get(document["download_url"])
    assert response.status_code == 302
    assert response.headers["location"] == "http://169.254.169.254/latest/meta-data/"
    assert (await rest.get(document["download_url"])).status_code == 200


async def test_after_phase_does_the_work_and_loses_the_answer(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    body = {
        "offer_id": str(uuid.uuid4()),
        "candidate_id": candidate["id"],
        "title": "Engineer",
        "salary": {"amount": "70000.00", "currency": "EUR"},
        "start_date": "2027-02-01",
        "expires_at": "2026-12-20T12:00:00Z",
    }
    headers = {"idempotency-key": str(uuid.uuid4())}
    await portal.admin.add_fault("reset", count=1, phase="after", path_prefix="/v1/offers")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await rest.post("/v1/offers", json=body, headers=headers)
    assert len(await portal.admin.offers()) == 1
    retried = await rest.post("/v1/offers", json=body, headers=headers)
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert len(await portal.admin.offers()) == 1


async def test_a_fault_targets_only_its_path_prefix_and_only_the_next_n_calls(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    await portal.admin.add_fault("error_503", count=2, path_prefix="/v1/offers")
    assert (await rest.get("/v1/health")).status_code == 200
    statuses = [
        (await rest.post("/v1/offers", json={}, headers={"idempotency-key": str(uuid.uuid4())})).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 422]
    (rule,) = (await portal.admin.faults())["rules"]
    assert rule["injected"] == 2
    assert rule["exhausted"] is True


async def test_a_rate_is_drawn_from_the_seeded_random_source(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    runs = []
    for _ in range(2):
        await portal.admin.set_faults([{"kind": "error_500", "rate": 0.5}], seed=42)
        runs.append([(await rest.get("/v1/health")).status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500}


async def test_the_admin_api_is_never_faulted(portal: RunningSimulator) -> None:
    await portal.admin.add_fault("error_500")
    await portal.admin.add_fault("reset")
    assert (await portal.admin.stats())["faults"] == {}
    await portal.admin.reset_faults()
    assert (await portal.admin.faults())["rules"] == []


async def test_an_unknown_fault_kind_is_refused(portal: RunningSimulator) -> None:
    async with httpx.AsyncClient(base_url=portal.base_url) as client:
        response = await client.post("/admin/faults", json={"kind": "meteor"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "kind"


async def test_error_401_refuses_a_valid_key(portal: RunningSimulator, rest: httpx.AsyncClient) -> None:
    await portal.admin.add_fault("error_401", count=1)
    refused = await rest.get("/v1/health")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert (await rest.get("/v1/health")).status_code == 200
