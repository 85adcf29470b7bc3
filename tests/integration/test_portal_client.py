"""The portal client against the simulator: every call recorded, the API key refreshed once on a
401/403 and then waiting (transient, alerted), the contract's answers mapped onto our errors."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg.rows import dict_row

from shared.alerts import Alerter
from shared.circuit_breaker import CircuitBreaker
from shared.db import create_pool
from shared.errors import PortalCredentialRejected, PortalRejected, PortalUnavailable, TransientError
from shared.portal_activity import PgActivityLog
from shared.portal_client import PortalClient
from shared.secrets import PORTAL_API_KEY, EnvironmentSource, SecretStore
from tests.support import events as ev

MakeClient = Callable[..., PortalClient]


@pytest.fixture
async def make_client(portal, api_key, database_url, redis_url, redis_prefix) -> AsyncIterator[MakeClient]:
    pool = await create_pool(database_url)
    redis_client = aioredis.Redis.from_url(redis_url)
    opened: list[httpx.AsyncClient] = []

    def make(*, secrets: SecretStore | None = None, timeout: float = 5.0) -> PortalClient:
        http = httpx.AsyncClient(base_url=portal.base_url, timeout=timeout)
        opened.append(http)
        store = secrets or SecretStore(EnvironmentSource({PORTAL_API_KEY: api_key}))
        return PortalClient(
            http,
            store,
            CircuitBreaker(redis_client, redis_prefix),
            activity=PgActivityLog(pool),
            alerter=Alerter(None),
        )

    yield make
    for http in opened:
        await http.aclose()
    await redis_client.aclose()
    await pool.close()


def activity(database_url: str) -> list[dict[str, object]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT direction, operation, entity_id, outcome, http_status, duration_ms, error "
            "FROM portal_activity_log ORDER BY id"
        ).fetchall()


async def calls(portal, route: str) -> dict[str, int]:
    stats = await portal.admin.stats()
    return stats["requests"].get(route, {}).get("by_status", {})


def interview_body(request_id: str, candidate_id: str) -> dict[str, object]:
    return {
        "request_id": request_id,
        "candidate_id": candidate_id,
        "duration_minutes": 45,
        "proposed_slots": [{"start": "2027-01-10T10:00:00+00:00", "end": "2027-01-10T10:45:00+00:00"}],
        "timezone": "Europe/London",
    }


async def test_every_call_is_recorded_with_its_outcome_and_no_personal_data(
    portal, make_client, database_url
):
    client = make_client()
    cand = await portal.admin.seed_candidate(ev.candidate())
    await client.get_candidate(cand["id"])
    with pytest.raises(PortalRejected):
        await client.get_candidate("cand_unknown")
    request_id = str(uuid.uuid4())
    created = await client.create_interview_request(
        interview_body(request_id, cand["id"]), idempotency_key=str(uuid.uuid4()), entity_id=request_id
    )
    assert created.status_code == 201
    assert created.portal_id("ireq_")
    await portal.admin.add_fault("error_503", path_prefix="/v1/offers", retry_after_seconds=7, count=1)
    with pytest.raises(PortalUnavailable) as unavailable:
        await client.create_offer({"offer_id": "x"}, idempotency_key=str(uuid.uuid4()), entity_id="x")
    assert unavailable.value.retry_after == 7
    rows = activity(database_url)
    assert [
        (r["direction"], r["operation"], r["entity_id"], r["outcome"], r["http_status"]) for r in rows
    ] == [
        ("outbound", "GET /v1/candidates/{cand_id}", cand["id"], "succeeded", 200),
        ("outbound", "GET /v1/candidates/{cand_id}", "cand_unknown", "rejected", 404),
        ("outbound", "POST /v1/interview-requests", request_id, "succeeded", 201),
        ("outbound", "POST /v1/offers", "x", "unavailable", 503),
    ]
    assert all(isinstance(r["duration_ms"], int) and r["duration_ms"] >= 0 for r in rows)
    text = repr(rows)
    assert cand["email"] not in text
    assert cand["last_name"] not in text


async def test_a_refusal_names_the_fields_not_the_values(portal, make_client, database_url):
    client = make_client()
    with pytest.raises(PortalRejected) as refused:
        await client.create_interview_request(
            interview_body(str(uuid.uuid4()), "cand_nobody"), idempotency_key=str(uuid.uuid4()), entity_id="r"
        )
    assert refused.value.status_code == 422
    assert str(refused.value) == ("portal answered 422 to POST /v1/interview-requests (fields: candidate_id)")
    assert activity(database_url)[-1]["error"] == str(refused.value)


async def test_a_rotated_key_is_refreshed_once_and_the_call_made_again(
    portal, make_client, api_key, database_url
):
    values = {PORTAL_API_KEY: "the-old-key"}
    store = SecretStore(EnvironmentSource(values))
    client = make_client(secrets=store)
    cand = await portal.admin.seed_candidate(ev.candidate())
    await store.get(PORTAL_API_KEY)  # cached: the old key
    values[PORTAL_API_KEY] = api_key  # rotated where the store reads from
    assert (await client.get_candidate(cand["id"]))["id"] == cand["id"]
    assert await calls(portal, "GET /v1/candidates/{cand_id}") == {"401": 1, "200": 1}
    assert [r["outcome"] for r in activity(database_url)] == ["succeeded"]


async def test_a_key_refused_after_the_refresh_is_transient_and_alerted(
    portal, make_client, database_url, caplog
):
    client = make_client(secrets=SecretStore(EnvironmentSource({PORTAL_API_KEY: "wrong-everywhere"})))
    caplog.set_level(logging.ERROR, logger="shared.alerts")
    for _ in range(6):  # more than the breaker's threshold: a 401 does not count towards it
        with pytest.raises(PortalCredentialRejected) as refused:
            await client.create_offer({}, idempotency_key=str(uuid.uuid4()), entity_id="o")
    assert isinstance(refused.value, TransientError)
    assert refused.value.retry_after == 60
    # the store holds no other key, so each call is made once, never again with the same key
    assert await calls(portal, "POST /v1/offers") == {"401": 6}
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert alerts[0].startswith("ALERT portal_credentials_rejected [portal]: portal answered 401")
    assert "wrong-everywhere" not in " ".join(alerts)
    assert {r["outcome"] for r in activity(database_url)} == {"credentials_rejected"}
    cand = await portal.admin.seed_candidate(ev.candidate())
    with pytest.raises(PortalCredentialRejected):  # the breaker stayed closed: the call was made
        await client.get_candidate(cand["id"])


async def test_a_profile_fetch_refused_for_the_key_is_transient_for_the_processor(portal, make_client):
    client = make_client(secrets=SecretStore(EnvironmentSource({PORTAL_API_KEY: "wrong"})))
    cand = await portal.admin.seed_candidate(ev.candidate())
    with pytest.raises(TransientError):
        await client.get_candidate(cand["id"])


async def test_a_timeout_and_a_reset_are_transient(portal, make_client, database_url):
    client = make_client(timeout=0.3)
    cand = await portal.admin.seed_candidate(ev.candidate())
    await portal.admin.add_fault("timeout", path_prefix="/v1/candidates", count=1, hang_seconds=5)
    with pytest.raises(PortalUnavailable, match="timed out"):
        await client.get_candidate(cand["id"])
    await portal.admin.add_fault("reset", path_prefix="/v1/candidates", count=1)
    with pytest.raises(PortalUnavailable):
        await client.get_candidate(cand["id"])
    assert [(r["outcome"], r["http_status"]) for r in activity(database_url)] == [
        ("unavailable", None),
        ("unavailable", None),
    ]


async def test_retry_after_is_capped_at_five_minutes(portal, make_client):
    client = make_client()
    await portal.admin.add_fault("error_429", path_prefix="/v1/offers", retry_after_seconds=3600, count=1)
    with pytest.raises(PortalUnavailable) as caught:
        await client.create_offer({}, idempotency_key=str(uuid.uuid4()), entity_id="o")
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 300


async def test_an_event_whose_profile_fetch_is_refused_for_our_key_waits_instead_of_failing(
    portal_environ, portal, webhook_secret, database_url, caplog
):
    from shared.runtime import Runtime
    from tests.support.pipeline import Pipeline

    caplog.set_level(logging.ERROR, logger="shared.alerts")
    pipeline = Pipeline(
        await Runtime.from_environ({**portal_environ, "PORTAL_API_KEY": "revoked"}),
        webhook_secret,
        database_url,
    )
    try:
        cand = await portal.admin.seed_candidate(ev.candidate())
        event = ev.screening_event(cand["id"], 80)
        assert (await pipeline.post(event)).status == 202
        [report] = await pipeline.drain()
        assert (report.rescheduled, report.failed) == (1, 0)
        assert pipeline.rows("SELECT 1 FROM webhook_events") == []
        [queued] = await pipeline.queued()
        assert queued["message_id"] == f"{event['id']}:r1"
        assert any(
            r.getMessage().startswith("ALERT portal_credentials_rejected [portal]") for r in caplog.records
        )
    finally:
        await pipeline.close()
