"""The timer part: the exact retry schedule with jitter, Retry-After, permanent refusals, the
breaker (opening after exactly five failures, skipping while open, one probe), the API key, and
the run's budget; every figure taken from a clock the test moves (no sleeps)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.outbound.retry import BACKOFF_SECONDS
from tests.support import ats
from tests.support.outbound import Randoms

pytestmark = pytest.mark.timeout(120)


def alerts(caplog, kind: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"ALERT {kind} ")]


async def test_the_retry_schedule_is_exact_and_the_sixth_failure_fails_the_row(make_outbound, caplog):
    jitter = [0.0, 0.5, 0.999999, 0.25, 0.75]
    outbound = await make_outbound(randoms=Randoms(jitter), CIRCUIT_FAILURE_THRESHOLD="100")
    caplog.set_level(logging.ERROR, logger="shared.alerts")
    cand, _ = await outbound.candidate()
    await outbound.portal.admin.add_fault("error_500", path_prefix="/v1/interview-requests")
    cmd = ats.interview_request(cand)
    await outbound.send(cmd)
    waits = []
    for attempt, (base, u) in enumerate(zip(BACKOFF_SECONDS, jitter, strict=True), start=1):
        row = outbound.row(cmd["command_id"])
        assert (row["status"], row["retry_count"], row["http_status"]) == ("pending", attempt, 500)
        assert row["last_attempt"] == outbound.clock.now
        wait = row["next_retry"] - row["last_attempt"]
        assert wait == timedelta(seconds=base * (1 + 0.2 * u))
        waits.append(wait.total_seconds())
        outbound.clock.to(row["next_retry"] - timedelta(milliseconds=1))
        assert (await outbound.replay()).claimed == 0  # not a moment early
        outbound.clock.to(row["next_retry"])
        await outbound.replay()
    assert waits == pytest.approx([1.0, 2.2, 4.8, 8.4, 18.4], abs=1e-4)
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["next_retry"] is not None) == ("failed", 6, True)
    assert (
        row["last_error"]
        == "attempt 6 failed, no attempt left: portal answered 500 to POST /v1/interview-requests"
    )
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "failed"}]
    assert (await outbound.by_key("POST /v1/interview-requests"))[cmd["command_id"]]["by_status"] == {
        "500": 6
    }
    calls = outbound.rows("SELECT operation, entity_id, outcome, http_status FROM portal_activity_log")
    assert (
        calls
        == [
            {
                "operation": "POST /v1/interview-requests",
                "entity_id": row["entity_id"],
                "outcome": "unavailable",
                "http_status": 500,
            }
        ]
        * 6
    )
    assert alerts(caplog, "sync_failed") == [
        f"ALERT sync_failed [{cmd['command_id']}]: command {cmd['command_id']} (interview.request) failed: "
        + row["last_error"]
    ]
    await outbound.tick(3600)
    assert (await outbound.calls("POST /v1/interview-requests"))["total"] == 6


async def test_a_longer_retry_after_is_honoured_and_capped_at_five_minutes(make_outbound):
    outbound = await make_outbound(randoms=Randoms([0.0]))
    cand, _ = await outbound.candidate()
    for retry_after, expected in ((20, 20.0), (3600, 300.0), (0, 1.0)):
        await outbound.portal.admin.add_fault(
            "error_429", path_prefix="/v1/offers", count=1, retry_after_seconds=retry_after
        )
        cmd = ats.offer(cand)
        await outbound.send(cmd)
        row = outbound.row(cmd["command_id"])
        assert (row["status"], row["http_status"]) == ("pending", 429)
        assert (row["next_retry"] - row["last_attempt"]).total_seconds() == expected
        outbound.clock.to(row["next_retry"])
        await outbound.replay()
        assert outbound.row(cmd["command_id"])["status"] == "completed"


async def test_a_permanent_refusal_is_never_retried(outbound, caplog):
    caplog.set_level(logging.ERROR, logger="shared.alerts")
    cand, _ = await outbound.candidate(on_portal=False)  # the portal answers 422 candidate_id
    cmd = ats.offer(cand)
    await outbound.send(cmd)
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["http_status"]) == ("failed", 1, 422)
    assert row["last_error"] == "portal answered 422 to POST /v1/offers (fields: candidate_id)"
    assert outbound.rows("SELECT status FROM offers") == [{"status": "failed"}]
    assert outbound.stage(cand) == "interview"
    for _ in range(3):
        await outbound.tick(600)
    assert (await outbound.calls("POST /v1/offers"))["total"] == 1
    assert len(alerts(caplog, "sync_failed")) == 1


async def test_the_breaker_opens_after_exactly_five_failures_and_no_attempt_is_used_while_open(outbound):
    cand, _ = await outbound.candidate()
    await outbound.portal.admin.add_fault("error_503", path_prefix="/v1/interview-requests")
    cmd = ats.interview_request(cand)
    await outbound.send(cmd)
    for _ in range(4):
        outbound.clock.to(outbound.row(cmd["command_id"])["next_retry"])
        await outbound.replay()
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"]) == ("pending", 5)
    assert (await outbound.calls("POST /v1/interview-requests"))["total"] == 5
    opened_at = outbound.clock.now
    outbound.clock.to(row["next_retry"])  # due, but the breaker is open
    report = await outbound.replay()
    assert (report.claimed, report.circuit_open_for is not None) == (0, True)
    assert (await outbound.calls("POST /v1/interview-requests"))["total"] == 5
    assert outbound.row(cmd["command_id"])["retry_count"] == 5
    outbound.clock.to(opened_at + timedelta(seconds=29))
    assert (await outbound.replay()).claimed == 0
    await outbound.portal.admin.reset_faults()  # the portal is back
    outbound.clock.to(opened_at + timedelta(seconds=30))
    report = await outbound.replay()
    assert (report.claimed, report.completed) == (1, 1)
    assert (await outbound.calls("GET /v1/health"))["by_status"] == {"200": 1}  # one probe
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["http_status"]) == ("completed", 5, 201)
    assert (await outbound.calls("POST /v1/interview-requests"))["by_status"] == {"503": 5, "201": 1}


async def test_a_call_skipped_by_the_open_breaker_waits_without_using_an_attempt(outbound):
    cand, _ = await outbound.candidate()
    await outbound.portal.admin.add_fault("error_500", path_prefix="/v1/candidates/")
    for _ in range(5):  # five failed calls of other commands open the breaker
        await outbound.send(ats.status(cand, "interview"))
    cmd = ats.offer((await outbound.candidate())[0])
    await outbound.send(cmd)
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["last_attempt"]) == ("pending", 0, None)
    assert row["last_error"].startswith("portal circuit open")
    assert (row["next_retry"] - outbound.clock.now).total_seconds() == pytest.approx(30, abs=1)
    assert (await outbound.calls("POST /v1/offers"))["total"] == 0


async def test_a_failed_probe_keeps_it_open_for_another_cool_down(outbound):
    cand, _ = await outbound.candidate()
    await outbound.portal.admin.add_fault("error_503")  # everything, the health probe included
    cmd = ats.interview_request(cand)
    await outbound.send(cmd)
    for _ in range(4):
        outbound.clock.to(outbound.row(cmd["command_id"])["next_retry"])
        await outbound.replay()
    opened_at = outbound.clock.now
    outbound.clock.to(opened_at + timedelta(seconds=30))
    assert (await outbound.replay()).deferred == 1  # the probe failed: released, not attempted
    assert (await outbound.calls("GET /v1/health"))["by_status"] == {"503": 1}
    assert outbound.row(cmd["command_id"])["retry_count"] == 5
    await outbound.tick(29)
    assert (await outbound.calls("GET /v1/health"))["total"] == 1
    await outbound.portal.admin.reset_faults()
    await outbound.tick(2)
    assert outbound.row(cmd["command_id"])["status"] == "completed"


async def test_a_refused_api_key_waits_with_an_alert_and_no_attempt_used(make_outbound, caplog):
    outbound = await make_outbound(PORTAL_API_KEY="revoked-key")
    caplog.set_level(logging.ERROR, logger="shared.alerts")
    cand, _ = await outbound.candidate()
    cmd = ats.offer(cand)
    await outbound.send(cmd)
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"], row["last_attempt"]) == ("pending", 0, None)
    assert (row["next_retry"] - outbound.clock.now).total_seconds() == 60
    assert outbound.rows("SELECT status FROM offers") == [{"status": "sending"}]
    assert alerts(caplog, "portal_credentials_rejected")[0].startswith(
        "ALERT portal_credentials_rejected [portal]: portal answered 401 to POST /v1/offers"
    )
    for _ in range(10):  # long after six attempts would have been used
        await outbound.tick(60)
    assert outbound.row(cmd["command_id"])["status"] == "pending"
    assert outbound.row(cmd["command_id"])["retry_count"] == 0


async def test_a_run_claims_no_new_work_once_its_budget_is_spent(make_outbound):
    outbound = await make_outbound(CIRCUIT_FAILURE_THRESHOLD="1000")
    await outbound.portal.admin.add_fault(
        "error_503", path_prefix="/v1/offers", count=40, retry_after_seconds=0
    )
    commands = [ats.offer((await outbound.candidate())[0]) for _ in range(40)]
    for cmd in commands:
        await outbound.send(cmd)
    outbound.clock.advance(5)
    report = await outbound.replay(budget_seconds=0)
    assert (report.waves, report.claimed, report.completed) == (1, 16, 16)
    report = await outbound.replay(budget_seconds=60)
    assert (report.claimed, report.completed) == (24, 24)
    assert (await outbound.replay()).claimed == 0
