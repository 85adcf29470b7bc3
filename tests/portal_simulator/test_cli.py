"""The command line: ``--help`` documents every option with its environment variable, and the
client commands drive a running simulator and print per-event results with honest exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from portal_simulator.testing import RunningSimulator
from tests.portal_simulator.conftest import SESSION_LOOP
from tests.portal_simulator.receiver import Receiver

pytestmark = [pytest.mark.unit, SESSION_LOOP]
ROOT = Path(__file__).resolve().parents[2]


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "portal_simulator",
        *args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_help_documents_every_serve_option_with_its_environment_variable() -> None:
    code, out, _ = await run_cli("serve", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for flag, env in [
        ("--ats-url", "SIM_ATS_URL"),
        ("--webhook-secrets", "PORTAL_WEBHOOK_SECRETS"),
        ("--api-key", "PORTAL_API_KEY"),
        ("--port", "SIM_PORT"),
        ("--host", "SIM_HOST"),
        ("--public-url", "SIM_PUBLIC_URL"),
        ("--followup-delay", "SIM_FOLLOWUP_DELAY_SECONDS"),
        ("--interview-decline-rate", "SIM_INTERVIEW_DECLINE_RATE"),
        ("--seed", "SIM_SEED"),
    ]:
        assert flag in flat
        assert f"env {env}" in flat


@pytest.mark.parametrize("command", ["send", "import", "faults", "stats", "scenario", "settings", "reset"])
async def test_every_command_has_help(command: str) -> None:
    code, out, _ = await run_cli(command, "--help")
    assert code == 0
    assert "usage:" in out


async def test_a_usage_error_exits_2() -> None:
    code, _, err = await run_cli("send")
    assert code == 2
    assert "EVENT_TYPE" in err


async def test_send_prints_each_event_with_its_delivery_status(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    code, out, err = await run_cli(
        "send", "candidate.created", "--count", "3", "--simulator-url", portal.base_url
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line, delivery in zip(lines, receiver.received, strict=True):
        event_id = delivery.headers["webhook-id"]
        assert line.startswith(event_id)
        assert "candidate.created" in line
        assert " 202 " in line


async def test_send_reads_the_simulator_url_from_the_environment_and_fails_on_rejection(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    receiver.statuses = [422]
    code, out, _ = await run_cli("send", "screening.completed", env={"SIM_URL": portal.base_url})
    assert code == 1
    assert " 422 " in out
    assert "FAIL" in out


async def test_send_invalid_passes_when_the_ats_answers_the_expected_status(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    receiver.statuses = [422]
    code, out, _ = await run_cli(
        "send",
        "candidate.created",
        "--invalid",
        "--invalid-rule",
        "email_invalid",
        "--simulator-url",
        portal.base_url,
    )
    assert code == 0, out
    assert "expected 422 (email_invalid at candidate.email)" in out


async def test_send_for_an_unknown_candidate_exits_2(portal: RunningSimulator) -> None:
    code, _, err = await run_cli(
        "send", "screening.completed", "--candidate", "cand_nobody", "--simulator-url", portal.base_url
    )
    assert code == 2
    assert "404" in err


async def test_an_unreachable_simulator_exits_1() -> None:
    code, _, err = await run_cli("stats", "--simulator-url", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach" in err


async def test_faults_and_stats_commands_round_trip(portal: RunningSimulator) -> None:
    url = ["--simulator-url", portal.base_url]
    code, out, _ = await run_cli("faults", "add", "error_429", "--count", "2", "--retry-after", "3", *url)
    assert code == 0
    (rule,) = json.loads(out)["rules"]
    assert (rule["kind"], rule["count"], rule["retry_after_seconds"]) == ("error_429", 2, 3)
    code, out, _ = await run_cli("stats", *url)
    assert code == 0
    assert json.loads(out)["requests"] == {}
    code, out, _ = await run_cli("faults", "reset", *url)
    assert json.loads(out)["rules"] == []


async def test_import_prints_the_ats_report(portal: RunningSimulator, receiver: Receiver) -> None:
    from starlette.responses import JSONResponse

    def report(received):  # the ATS's per-line report
        lines = received.body.decode().splitlines()
        results = [
            {"line": n, "event_id": json.loads(line)["id"], "status": "accepted"}
            for n, line in enumerate(lines, 1)
        ]
        return JSONResponse(
            {
                "batch_id": received.headers["webhook-id"],
                "accepted": len(lines),
                "duplicates": 0,
                "invalid": 0,
                "results": results,
            }
        )

    receiver.responder = report
    code, out, err = await run_cli("import", "--count", "4", "--simulator-url", portal.base_url)
    assert code == 0, err
    assert "accepted 4, duplicates 0, invalid 0" in out
    assert out.count(" accepted") == 4


async def test_scenario_plays_each_candidate_journey(portal: RunningSimulator, receiver: Receiver) -> None:
    code, out, err = await run_cli(
        "scenario", "--candidates", "3", "--seed", "4", "--simulator-url", portal.base_url
    )
    assert code == 0, err
    assert out.count("profile (candidate.created)") == 3
    assert out.count("AI screening") == 3
    assert out.count("document upload") == 3
    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types.count("candidate.created") == 3
    assert types.count("document.uploaded") == 3


async def test_the_scenarios_first_candidate_always_goes_the_whole_way(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    for seed in ("1", "2", "3"):
        receiver.received.clear()
        code, _, err = await run_cli(
            "scenario",
            "--candidates",
            "1",
            "--withdraw-share",
            "1",
            "--seed",
            seed,
            "--simulator-url",
            portal.base_url,
        )
        assert code == 0, err
        events = [json.loads(r.body) for r in receiver.received]
        assert "candidate.withdrawn" not in [e["type"] for e in events]
        [screening] = [e["data"]["screening"] for e in events if e["type"] == "screening.completed"]
        assert (screening["recommendation"], screening["score"] >= 70) == ("advance", True)
        [assessment] = [e["data"]["assessment"] for e in events if e["type"].startswith("assessment.")]
        assert (assessment["status"], assessment["max_score"], assessment["score"] >= 70) == (
            "completed",
            100,
            True,
        )
