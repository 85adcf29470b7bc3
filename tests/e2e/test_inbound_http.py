"""The inbound pipeline through HTTP under devhost: what the portal sees, what the ATS stores."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.support import events as ev


async def post(app, event, *, secret=None, headers=None, body=None):
    signed_headers, signed_body = ev.signed(secret or app.secret, event)
    return await app.http.post(
        "/api/portal/webhooks",
        content=body if body is not None else signed_body,
        headers={**signed_headers, **(headers or {})},
    )


async def test_a_hiring_journey_over_http_reaches_the_ats(running_app):
    app = running_app
    cand = ev.candidate()
    cid = cand["id"]
    offer_id, request_id = str(uuid.uuid4()), str(uuid.uuid4())
    journey = [
        ev.profile_event(cand),
        ev.screening_event(cid, 82.5, "advance", created=1),
        ev.assessment_event(cid, 71, created=2),
        ev.document_event(cid, portal=app.portal.base_url, created=3),
        ev.interview_event(cid, request_id, created=4),
        ev.offer_event(cid, offer_id, created=5),
    ]
    for event in journey:
        response = await post(app, event)
        assert response.status_code == 202, response.text
    await app.eventually(lambda: app.rows("SELECT 1 FROM candidates WHERE stage = 'hired'"))
    await app.eventually(
        lambda: len(app.rows("SELECT 1 FROM webhook_events WHERE processed")) == len(journey)
    )
    [row] = app.rows("SELECT stage, needs_review FROM candidates")
    assert row == {"stage": "hired", "needs_review": False}
    history = [r["to_stage"] for r in app.rows("SELECT to_stage FROM candidate_stage_history ORDER BY id")]
    assert history == ["new", "assessment", "interview", "hired"]
    assert app.rows("SELECT band FROM portal_assessments WHERE assessment_type = 'ai_screening'") == [
        {"band": "strong"}
    ]
    assert app.rows("SELECT status FROM interviews") == [{"status": "scheduled"}]
    assert app.rows("SELECT status FROM offers") == [{"status": "accepted"}]
    assert len(app.rows("SELECT 1 FROM portal_activity_log WHERE direction = 'inbound'")) == len(journey)
    # the same event again: the portal is told it was already processed
    again = await post(app, journey[1])
    assert again.status_code == 200


async def test_rejections_over_http_are_problem_json(running_app):
    app = running_app
    event = ev.profile_event(ev.candidate(email="nope"))
    response = await post(app, event)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == "Event data failed validation"
    assert [e["field"] for e in body["errors"]] == ["candidate.email"]
    unsigned = await app.http.post(
        "/api/portal/webhooks", content=ev.body_of(event), headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 401
    not_json = await post(app, event, body=b"{]")
    assert not_json.status_code in (400, 401)  # the signature covers the body: a changed body is 401
    big = await app.http.post(
        "/api/portal/webhooks", content=b"x" * 200_000, headers={"content-type": "application/json"}
    )
    assert big.status_code == 413
    wrong_method = await app.http.get("/api/portal/webhooks")
    assert wrong_method.status_code == 405
    assert len(app.rows("SELECT 1 FROM rejected_deliveries")) == 1


async def test_a_duplicate_storm_over_http_applies_once(running_app):
    app = running_app
    cand = ev.candidate()
    await post(app, ev.profile_event(cand))
    screening = ev.screening_event(cand["id"], 90)
    responses = await asyncio.gather(*(post(app, screening) for _ in range(50)))
    assert {r.status_code for r in responses} <= {200, 202}
    await app.eventually(lambda: app.rows("SELECT 1 FROM candidates WHERE stage = 'assessment'"))
    await asyncio.sleep(0.5)
    assert len(app.rows("SELECT 1 FROM portal_assessments")) == 1
    assert len(app.rows("SELECT 1 FROM webhook_events")) == 2


async def test_an_event_about_an_unknown_candidate_fetches_the_profile_first(running_app):
    app = running_app
    cand = await app.portal.admin.seed_candidate(ev.candidate())
    response = await post(app, ev.screening_event(cand["id"], 75))
    assert response.status_code == 202
    [row] = await app.eventually(lambda: app.rows("SELECT * FROM candidates"))
    assert (row["portal_candidate_id"], row["email"], row["stage"]) == (
        cand["id"],
        cand["email"],
        "assessment",
    )
    stats = await app.portal.admin.stats()
    assert json.dumps(stats).count("/v1/candidates/") >= 1


async def test_bulk_import_over_http(running_app):
    app = running_app
    lines = [ev.profile_event(ev.candidate()) for _ in range(3)]
    body = b"\n".join(ev.body_of(e) for e in lines)
    headers = {**ev.sign(app.secret, "bat_e2e", body), "content-type": "application/x-ndjson"}
    response = await app.http.post("/api/portal/candidates/import", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["accepted"] == 3
    await app.eventually(lambda: len(app.rows("SELECT 1 FROM candidates")) == 3)


async def test_health_and_readiness(running_app):
    app = running_app
    live = await app.http.get("/api/health")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await app.http.get("/api/health/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert set(body["components"]) == {"postgres", "redis", "blob", "queues", "portal"}
    assert body["status"] == "ready", body
    assert all(c["state"] == "up" and c["latency_ms"] >= 0 for c in body["components"].values())
    await app.portal.admin.add_fault("error_503", path_prefix="/v1/health")
    degraded = await app.http.get("/api/health/ready")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["components"]["portal"]["state"] == "down"


async def test_every_event_type_over_http_leaves_its_row(running_app):
    app = running_app
    base = app.portal.base_url
    a, b, c = ev.candidate(), ev.candidate(), ev.candidate()
    req_declined, req_cancelled, offer_declined = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        ev.profile_event(a),
        ev.profile_event(b),
        ev.profile_event(c),
        ev.profile_event(
            {**a, "headline": "Lead", "updated_at": ev.at(9)}, kind="candidate.updated", created=9
        ),
        ev.screening_event(a["id"], 45, "review", created=1),
        ev.assessment_event(a["id"], 80, created=2),
        ev.assessment_event(b["id"], failed=True, created=2),
        ev.document_event(b["id"], portal=base, created=3),
        ev.interview_event(a["id"], req_declined, "declined", created=4),
        ev.interview_event(b["id"], req_cancelled, "scheduled", created=4),
        ev.interview_event(b["id"], req_cancelled, "cancelled", created=5),
        ev.offer_event(a["id"], offer_declined, "declined", created=6),
        ev.withdrawn_event(c["id"], created=7),
        ev.envelope("candidate.promoted", {"candidate": {"id": a["id"]}}, created=8),
    ]
    assert {e["type"] for e in events} >= {
        "candidate.created",
        "candidate.updated",
        "candidate.withdrawn",
        "screening.completed",
        "assessment.completed",
        "assessment.failed",
        "document.uploaded",
        "interview.scheduled",
        "interview.declined",
        "interview.cancelled",
        "offer.declined",
    }
    for event in events:
        assert (await post(app, event)).status_code == 202
    await app.eventually(lambda: len(app.rows("SELECT 1 FROM webhook_events")) == len(events))
    stages = {
        r["portal_candidate_id"]: (r["stage"], r["needs_review"], r["headline"])
        for r in app.rows(
            "SELECT portal_candidate_id, stage, needs_review, profile->>'headline' AS headline "
            "FROM candidates"
        )
    }
    assert stages == {
        a["id"]: ("interview", True, "Lead"),  # review screening, passed assessment, declined answers
        b["id"]: ("interview", True, "Analyst"),  # failed assessment, interview scheduled then cancelled
        c["id"]: ("withdrawn", False, "Analyst"),
    }
    statuses = {str(r["id"]): r["status"] for r in app.rows("SELECT id, status FROM interviews")}
    assert statuses == {req_declined: "declined", req_cancelled: "cancelled"}
    assert app.rows("SELECT status FROM offers") == [{"status": "declined"}]
    # The document's row is there; its transfer then asks the portal, which has no such file
    # (the event is made up here): the transfer fails with the reason, the event stays processed.
    await app.eventually(lambda: app.rows("SELECT 1 FROM candidate_documents WHERE status <> 'pending'"))
    assert app.rows("SELECT status, last_error FROM candidate_documents") == [
        {"status": "failed", "last_error": "the portal has no such document (404)"}
    ]
    outcomes = {
        r["event_type"]: r["status"] for r in app.rows("SELECT event_type, status FROM webhook_events")
    }
    assert outcomes.pop("candidate.promoted") == "ignored"
    assert set(outcomes.values()) == {"processed"}


async def test_database_cut_off_under_devhost_events_wait_and_apply_when_it_returns(start_app, database_url):
    from urllib.parse import urlsplit, urlunsplit

    from tests.support.tcp_proxy import TcpProxy

    parts = urlsplit(database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxied = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{proxy.port}", parts.path, "", ""))
    try:
        # the app's database goes through the proxy; the queues (their own setting) do not
        async with start_app(DATABASE_URL=proxied) as app:
            cands = [ev.candidate() for _ in range(3)]
            for cand in cands:
                assert (await post(app, ev.profile_event(cand))).status_code == 202
            await app.eventually(lambda: len(app.rows("SELECT 1 FROM candidates")) == 3)
            proxy.cut()
            screenings = [ev.screening_event(c["id"], 90) for c in cands]
            for event in screenings:
                assert (await post(app, event)).status_code == 202  # accepted while the database is away
            await app.eventually(
                lambda: app.rows(
                    "SELECT 1 FROM devhost.messages "
                    "WHERE queue = 'portal-events' AND message_id LIKE '%%:r%%'"
                )
            )
            assert app.rows("SELECT 1 FROM portal_assessments") == []
            proxy.restore()
            await app.eventually(
                lambda: len(app.rows("SELECT 1 FROM candidates WHERE stage = 'assessment'")) == 3, timeout=30
            )
            assert len(app.rows("SELECT 1 FROM portal_assessments")) == 3
            assert app.rows("SELECT 1 FROM devhost.messages WHERE queue LIKE '%%deadletter%%'") == []
    finally:
        await proxy.close()


async def test_a_misconfigured_app_answers_503_naming_the_setting_and_keeps_the_portal_retrying(start_app):
    async with start_app(REDIS_URL="127.0.0.1:6379") as app:  # a typo: no scheme
        ready = await app.http.get("/api/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable"
        assert "REDIS_URL must be a redis://" in body["error"]
        event = ev.profile_event(ev.candidate())
        answer = await post(app, event)
        assert answer.status_code == 503  # the portal retries a 5xx: nothing is lost
        assert answer.headers["retry-after"] == "60"
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "misconfigured" in answer.json()["detail"]
        assert "6379" not in answer.text  # the answer names no value
