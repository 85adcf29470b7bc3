"""``python -m ops sync``: rows the real dispatcher left, listed, shown and retried as an operator
would, then sent by the replay under the same Idempotency-Key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ats
from tests.support.ops import Ops


@pytest.fixture
def ops(capsys, database_url) -> Ops:
    return Ops(capsys, {"DATABASE_URL": database_url})


@pytest.fixture
def recent(clock):
    """The dispatcher's clock near the real one: the 24 h rule compares with the real time."""
    clock.to(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    return clock


async def refused_offer(outbound):
    """An offer the portal refused (422: the candidate is not on the portal yet)."""
    cand, _ = await outbound.candidate(on_portal=False)
    cmd = ats.offer(cand)
    await outbound.send(cmd)
    assert outbound.row(cmd["command_id"])["status"] == "failed"
    return cand, cmd


async def test_list_shows_failed_commands_with_their_reason(outbound, ops, recent):
    _, refused = await refused_offer(outbound)
    invalid = ats.status(str(uuid.uuid4()), "hired")
    await outbound.send(invalid)
    done = ats.status((await outbound.candidate())[0], "offer")
    await outbound.send(done)
    run = await ops("sync", "list", "--status", "failed")
    assert run.status == 0
    header, *rows, summary = run.lines
    assert header.split() == [
        "command_id",
        "type",
        "entity_id",
        "status",
        "attempts",
        "http",
        "last_error",
        "updated_at",
    ]
    assert [r.split()[0] for r in rows] == [invalid["command_id"], refused["command_id"]]
    assert "candidate_id: unknown candidate" in rows[0]
    assert "portal answered 422 to POST /v1/offers (fields: candidate_id)" in rows[1]
    assert summary == "2 command(s)"
    listed = (await ops("sync", "list", "--json")).data
    assert listed["count"] == 3
    assert {c["command_id"]: c["status"] for c in listed["commands"]} == {
        invalid["command_id"]: "failed",
        refused["command_id"]: "failed",
        done["command_id"]: "completed",
    }


async def test_a_retry_sends_the_same_command_id_again_once_the_cause_is_fixed(outbound, ops, recent):
    cand, cmd = await refused_offer(outbound)
    [candidate] = outbound.rows("SELECT portal_candidate_id FROM candidates WHERE id = %s", cand)
    await outbound.portal.admin.seed_candidate({"id": candidate["portal_candidate_id"]})  # the cause, fixed
    dry = await ops("sync", "retry", cmd["command_id"], "--dry-run", "--json")
    assert dry.status == 0
    assert [r["command_id"] for r in dry.data["retried"]] == [cmd["command_id"]]
    assert outbound.row(cmd["command_id"])["status"] == "failed"  # a dry run changes nothing
    run = await ops("sync", "retry", cmd["command_id"])
    assert run.status == 0
    assert run.lines[0] == "retried 1 command(s)"
    row = outbound.row(cmd["command_id"])
    assert (row["status"], row["retry_count"]) == ("pending", 0)
    assert row["last_error"].startswith("retried by an operator; it had failed: portal answered 422")
    assert outbound.rows("SELECT status FROM offers") == [{"status": "sending"}]
    outbound.clock.to(row["next_retry"])
    await outbound.replay()
    assert outbound.row(cmd["command_id"])["status"] == "completed"
    assert outbound.rows("SELECT status FROM offers") == [{"status": "sent"}]
    assert outbound.stage(cand) == "offer"
    keys = await outbound.by_key("POST /v1/offers")
    assert keys == {cmd["command_id"]: {"by_status": {"422": 1, "201": 1}, "replayed": 0}}
    again = await ops("sync", "retry", cmd["command_id"], "--json")
    assert again.status == 1
    assert again.data["skipped"] == [
        {"command_id": cmd["command_id"], "reason": "not failed (it is completed)"}
    ]


async def test_a_command_first_tried_more_than_a_day_ago_needs_force(outbound, ops, clock):
    clock.to(datetime.now(UTC) - timedelta(hours=25))
    _, cmd = await refused_offer(outbound)
    run = await ops("sync", "retry", cmd["command_id"], "--json")
    assert run.status == 1
    [skipped] = run.data["skipped"]
    assert "first attempted more than 24 h ago" in skipped["reason"]
    assert outbound.row(cmd["command_id"])["status"] == "failed"
    forced = await ops("sync", "retry", cmd["command_id"], "--force", "--json")
    assert forced.status == 0
    assert outbound.row(cmd["command_id"])["status"] == "pending"


async def test_a_command_refused_at_intake_cannot_be_retried(outbound, ops, recent):
    cmd = ats.interview_request((await outbound.candidate())[0], duration_minutes=0)
    await outbound.send(cmd)
    run = await ops("sync", "retry", "--all-failed", "--json")
    assert run.status == 1
    [skipped] = run.data["skipped"]
    assert skipped["reason"].startswith(
        "refused at intake, never sent: the ATS must send a corrected command"
    )
    assert outbound.row(cmd["command_id"])["status"] == "failed"


async def test_all_failed_since_takes_only_the_recent_failures(outbound, ops, clock):
    clock.to(datetime.now(UTC) - timedelta(hours=3))
    _, old = await refused_offer(outbound)
    clock.to(datetime.now(UTC) - timedelta(minutes=10))
    _, new = await refused_offer(outbound)
    run = await ops("sync", "retry", "--all-failed", "--since", "1h", "--json")
    assert [r["command_id"] for r in run.data["retried"]] == [new["command_id"]]
    assert (outbound.row(old["command_id"])["status"], outbound.row(new["command_id"])["status"]) == (
        "failed",
        "pending",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("sync", "retry"),
        ("sync", "retry", str(uuid.uuid4()), "--all-failed"),
        ("sync", "retry", "--since", "1h", str(uuid.uuid4())),
    ],
)
async def test_retry_needs_ids_or_all_failed_and_never_both(ops, argv):
    run = await ops(*argv)
    assert run.status == 2
    assert "ops sync retry:" in run.err


async def test_show_gives_the_row_the_command_its_offer_and_its_portal_calls(outbound, ops, recent):
    _, cmd = await refused_offer(outbound)
    run = await ops("sync", "show", cmd["command_id"], "--json")
    assert run.status == 0
    data = run.data
    assert data["command"]["status"] == "failed"
    assert data["document"] == cmd
    assert data["entity"] == {"kind": "offer", "status": "failed", "portal_id": None}
    assert [(c["operation"], c["outcome"], c["http_status"]) for c in data["calls"]] == [
        ("POST /v1/offers", "rejected", 422)
    ]
    text = await ops("sync", "show", cmd["command_id"])
    assert f"command {cmd['command_id']} (sync_queue)" in text.out
    missing = await ops("sync", "show", str(uuid.uuid4()))
    assert missing.status == 1
    assert "ops dead-letters list ats-outbound" in missing.out
