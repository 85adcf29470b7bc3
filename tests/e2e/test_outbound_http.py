"""Flows 2 and 4 end to end: the real app under devhost, the ATS's commands dropped on
``ats-outbound`` by the local ATS tool, the simulator answering over HTTP with signed webhooks,
until the interview is ``scheduled`` and the candidate ``hired``."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from devhost.host import Host, HostOptions
from portal_simulator.testing import RunningSimulator, running_simulator
from shared.runtime import close_runtime
from tests.e2e.conftest import ROOT, RunningApp
from tests.support.function_app import fresh_app

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_port() -> int:
    return free_port()


@pytest.fixture
async def portal(api_key, webhook_secret, app_port) -> AsyncIterator[RunningSimulator]:
    """A simulator that answers the app's requests and offers, over HTTP, to the app's port."""
    async with running_simulator(
        api_key=api_key,
        webhook_secrets=webhook_secret,
        ats_url=f"http://127.0.0.1:{app_port}/api/portal/webhooks",
        followup_delay_seconds=1.0,
        interview_decline_rate=0.0,
        offer_decline_rate=0.0,
    ) as sim:
        yield sim


@pytest.fixture
async def app(
    app_environ, portal, webhook_secret, database_url, app_port, monkeypatch
) -> AsyncIterator[RunningApp]:
    environ = {**app_environ, "PORTAL_BASE_URL": portal.base_url}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    await close_runtime()
    options = HostOptions(
        script_root=ROOT,
        port=app_port,
        shutdown_grace=5.0,
        poll_interval=0.2,
        lock_duration=timedelta(seconds=30),
    )
    host = Host.from_app(options, fresh_app(), os.environ)
    await host.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_port}", timeout=30) as http:
            yield RunningApp(f"http://127.0.0.1:{app_port}", http, host, database_url, portal, webhook_secret)
    finally:
        await host.stop()
        await close_runtime()


async def ats_command(*args: str) -> str:
    """``python -m scripts.ats_command ...`` as a developer runs it; the command id it prints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.ats_command",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def test_an_interview_request_and_an_offer_end_in_scheduled_and_hired(app):
    (created,) = await app.portal.admin.generate_events("candidate.created")
    cand = created["event"]["data"]["candidate"]["id"]
    await app.portal.admin.generate_events(
        "assessment.completed", candidate=cand, overrides={"score": 80.0, "max_score": 100}
    )
    [row] = await app.eventually(
        lambda: app.rows("SELECT id, stage FROM candidates WHERE stage = 'interview'")
    )
    request_command = await ats_command("interview-request", cand)
    [interview] = await app.eventually(
        lambda: app.rows(
            "SELECT * FROM interviews WHERE status = 'scheduled' AND portal_request_id IS NOT NULL"
        )
    )
    assert str(interview["candidate_id"]) == str(row["id"])
    assert interview["portal_interview_id"].startswith("int_")
    assert interview["scheduled_start"] is not None

    offer_command = await ats_command("offer", str(row["id"]))
    await app.eventually(lambda: app.rows("SELECT 1 FROM candidates WHERE stage = 'hired'"))
    [offer] = await app.eventually(lambda: app.rows("SELECT * FROM offers WHERE portal_offer_id IS NOT NULL"))
    assert offer["status"] == "accepted"

    def both_completed() -> list[dict]:
        rows = app.rows("SELECT * FROM sync_queue ORDER BY id")
        return rows if [r["status"] for r in rows] == ["completed", "completed"] else []

    rows = await app.eventually(both_completed)
    assert [(str(r["command_id"]), r["status"], r["retry_count"]) for r in rows] == [
        (request_command, "completed", 0),
        (offer_command, "completed", 0),
    ]
    history = [r["to_stage"] for r in app.rows("SELECT to_stage FROM candidate_stage_history ORDER BY id")]
    assert history == ["new", "interview", "offer", "hired"]
    stats = await app.portal.admin.stats()
    for route, command_id in (
        ("POST /v1/interview-requests", request_command),
        ("POST /v1/offers", offer_command),
    ):
        assert stats["requests"][route]["by_idempotency_key"] == {
            command_id: {"by_status": {"201": 1}, "replayed": 0}
        }
    outbound = app.rows(
        "SELECT operation, outcome FROM portal_activity_log WHERE direction = 'outbound' ORDER BY id"
    )
    assert outbound == [
        {"operation": "POST /v1/interview-requests", "outcome": "succeeded"},
        {"operation": "POST /v1/offers", "outcome": "succeeded"},
    ]
