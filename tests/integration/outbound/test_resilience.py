"""The outbound flow when things go wrong together: racing dispatchers, a worker killed mid-call,
the portal down for a minute, the portal's answer overtaking its own 201, the database down at
intake. "Once in effect" is counted at the simulator, per Idempotency-Key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from shared.db import create_pool
from shared.outbound.dispatcher import SyncDispatcher
from shared.outcomes import RetryLater
from tests.support import ats
from tests.support import events as ev
from tests.support.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(180)


async def eventually(probe, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value or asyncio.get_running_loop().time() > deadline:
            assert value, f"condition not met within {timeout} s"
            return value
        await asyncio.sleep(0.05)


def two_xx(counts: dict) -> int:
    return sum(n for status, n in counts["by_status"].items() if status.startswith("2"))


async def test_dispatchers_racing_over_the_same_due_rows_call_the_portal_once_per_command(make_outbound):
    first = await make_outbound(CIRCUIT_FAILURE_THRESHOLD="10000")
    second = await make_outbound(CIRCUIT_FAILURE_THRESHOLD="10000")
    commands = [ats.interview_request((await first.candidate())[0]) for _ in range(80)]
    await first.portal.admin.add_fault("error_503", path_prefix="/v1/interview-requests", count=80)
    for cmd in commands:
        await first.send(cmd)
    assert {r["status"] for r in first.rows("SELECT status FROM sync_queue")} == {"pending"}
    await first.portal.admin.add_fault("latency", path_prefix="/v1/interview-requests", latency_ms=20)
    first.clock.advance(5)
    racers = [
        first.make_dispatcher(),
        first.make_dispatcher(),
        second.make_dispatcher(),
        second.make_dispatcher(),
    ]
    reports = await asyncio.gather(*(d.replay(budget_seconds=60) for d in racers))
    assert sum(r.claimed for r in reports) == 80
    assert sum(1 for r in reports if r.claimed) >= 2  # they did race
    by_key = await first.by_key("POST /v1/interview-requests")
    assert {cmd["command_id"] for cmd in commands} == set(by_key)
    assert all(two_xx(counts) == 1 and counts["replayed"] == 0 for counts in by_key.values())
    assert len(await first.portal.admin.interview_requests()) == 80
    assert {r["status"] for r in first.rows("SELECT status FROM sync_queue")} == {"completed"}


async def test_a_worker_killed_mid_call_leaves_a_lease_that_expires_and_the_row_completes_once(
    outbound, portal_environ
):
    cand, _ = await outbound.candidate()
    cmd = ats.interview_request(cand)
    await outbound.portal.admin.add_fault(
        "latency", path_prefix="/v1/interview-requests", count=1, latency_ms=2000
    )
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.dispatch_once",
        json.dumps(cmd),
        cwd=ROOT,
        env={**os.environ, **portal_environ},
        stdout=asyncio.subprocess.PIPE,
    )

    async def in_flight() -> bool:
        return (await outbound.portal.admin.stats())["faults"].get("latency") == 1

    await eventually(in_flight)
    worker.send_signal(signal.SIGKILL)
    assert await worker.wait() == -signal.SIGKILL
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"]) == ("processing", 0)
    outbound.clock.to(row["lease_until"] - timedelta(seconds=1))
    assert (await outbound.replay()).claimed == 0  # the lease still holds
    outbound.clock.to(row["lease_until"])
    report = await outbound.replay()
    assert (report.claimed, report.completed) == (1, 1)

    async def both_calls_answered() -> bool:
        counts = (await outbound.by_key("POST /v1/interview-requests"))[cmd["command_id"]]
        return sum(counts["by_status"].values()) == 2

    await eventually(both_calls_answered)  # the killed worker's call ends too (disconnected)
    assert len(await outbound.portal.admin.interview_requests()) == 1
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "pending"}]


async def test_the_portal_down_for_a_minute_then_back_gets_every_command_once(outbound):
    commands = []
    for _ in range(15):
        cand, _ = await outbound.candidate(stage="interview")
        commands += [ats.interview_request(cand), ats.offer(cand), ats.status(cand, "offer", "offer made")]
    await outbound.portal.admin.add_fault("error_503")  # everything, the health probe included
    for cmd in commands:
        await outbound.send(cmd)
    for _ in range(60):
        await outbound.tick(1)
    stats = await outbound.portal.admin.stats()
    failed_posts = sum(
        v["by_status"].get("503", 0) for k, v in stats["requests"].items() if k.startswith("POST")
    )
    assert failed_posts == 5  # the breaker opened after five and no command was sent since
    assert {r["status"] for r in outbound.rows("SELECT status FROM sync_queue")} == {"pending"}
    await outbound.portal.admin.reset_faults()
    for _ in range(60):
        await outbound.tick(1)
        if {r["status"] for r in outbound.rows("SELECT status FROM sync_queue")} == {"completed"}:
            break
    rows = outbound.rows("SELECT status, retry_count FROM sync_queue")
    assert {r["status"] for r in rows} == {"completed"}
    assert max(r["retry_count"] for r in rows) <= 1
    stats = await outbound.portal.admin.stats()
    for route in ("POST /v1/interview-requests", "POST /v1/offers", "POST /v1/candidates/{cand_id}/status"):
        counts = stats["requests"][route]["by_idempotency_key"]
        assert len(counts) == 15
        assert all(two_xx(c) == 1 for c in counts.values())
    assert len(await outbound.portal.admin.interview_requests()) == 15
    assert len(await outbound.portal.admin.offers()) == 15
    assert outbound.rows("SELECT DISTINCT status FROM offers") == [{"status": "sent"}]
    assert outbound.rows("SELECT DISTINCT stage FROM candidates") == [{"stage": "offer"}]


async def test_an_answer_recorded_before_the_201_is_never_moved_back(outbound, webhook_secret, database_url):
    pipeline = Pipeline(outbound.runtime, webhook_secret, database_url)
    interviewee, interviewee_portal = await outbound.candidate(stage="interview")
    hire, hire_portal = await outbound.candidate(stage="interview")
    for path in ("/v1/interview-requests", "/v1/offers"):  # the portal acts, its answer is lost
        await outbound.portal.admin.add_fault("error_500", path_prefix=path, count=1, phase="after")
    request, offer = ats.interview_request(interviewee), ats.offer(hire)
    await outbound.send(request)
    await outbound.send(offer)
    [taken_request] = await outbound.portal.admin.interview_requests()
    [taken_offer] = await outbound.portal.admin.offers()
    accepted = ev.offer_event(hire_portal, offer["data"]["offer_id"])
    accepted["data"]["offer"]["id"] = taken_offer["id"]
    for answer in (ev.interview_event(interviewee_portal, request["data"]["request_id"]), accepted):
        assert (await pipeline.post(answer)).status == 202
    await pipeline.drain()
    assert outbound.rows("SELECT status FROM interviews") == [{"status": "scheduled"}]
    assert outbound.rows("SELECT status FROM offers") == [{"status": "accepted"}]
    assert outbound.stage(hire) == "hired"
    await outbound.tick(2)  # the retries: the portal replays its remembered 201s
    for cmd in (request, offer):
        assert outbound.row(cmd["command_id"])["status"] == "completed"
    assert (await outbound.by_key("POST /v1/offers"))[offer["command_id"]]["replayed"] == 1
    [interview] = outbound.rows("SELECT status, portal_request_id, scheduled_start FROM interviews")
    assert (interview["status"], interview["portal_request_id"]) == ("scheduled", taken_request["id"])
    assert interview["scheduled_start"] is not None
    assert outbound.rows("SELECT status, portal_offer_id FROM offers") == [
        {"status": "accepted", "portal_offer_id": taken_offer["id"]}
    ]
    assert (outbound.stage(hire), outbound.stage(interviewee)) == ("hired", "interview")
    await pipeline.queue_pool.close()


async def test_an_answer_before_the_command_arrives_keeps_its_row(outbound, webhook_secret, database_url):
    pipeline = Pipeline(outbound.runtime, webhook_secret, database_url)
    cand, portal_id = await outbound.candidate(stage="interview")
    cmd = ats.interview_request(cand)
    assert (await pipeline.post(ev.interview_event(portal_id, cmd["data"]["request_id"]))).status == 202
    await pipeline.drain()
    await outbound.send(cmd)  # redelivered late: the portal took it long ago
    [interview] = outbound.rows("SELECT status, details FROM interviews")
    assert interview["status"] == "scheduled"
    assert interview["details"]["ats"]["duration_minutes"] == 45
    assert outbound.row(cmd["command_id"])["status"] == "completed"
    await pipeline.queue_pool.close()


async def test_with_the_database_down_at_intake_the_message_is_sent_again_for_later(outbound):
    unreachable = await create_pool("postgresql://postgres@127.0.0.1:9/nowhere")
    try:
        dispatcher = SyncDispatcher(
            db=unreachable,
            portal=outbound.client,
            alerter=outbound.runtime.alerter,
            sender=outbound.runtime.sender,
            clock=outbound.clock,
        )
        cmd = ats.offer(str((await outbound.candidate())[0]))
        outcome = await dispatcher.handle(ats.message(cmd))
    finally:
        await unreachable.close()
    assert isinstance(outcome, RetryLater)
    [queued] = outbound.rows(
        "SELECT message_id, body, scheduled_enqueue_time FROM devhost.messages WHERE queue = 'ats-outbound'"
    )
    assert queued["message_id"] == f"{cmd['command_id']}:r1"
    assert json.loads(bytes(queued["body"])) == cmd
    assert queued["scheduled_enqueue_time"] == outbound.clock.now + timedelta(seconds=1)
    assert (await outbound.calls("POST /v1/offers"))["total"] == 0
