"""``python -m ops events replay``: a failed event re-queued applies once its cause is fixed,
through the real queue and processor; a dry run changes nothing; a plain re-send would not."""

from __future__ import annotations

import pytest

from shared.messaging import PORTAL_EVENTS, OutboundMessage
from tests.support import events as ev
from tests.support.ops import Ops


@pytest.fixture
def ops(capsys, pipeline) -> Ops:
    settings = pipeline.runtime.settings
    return Ops(
        capsys,
        {
            "DATABASE_URL": settings.database_url,
            "ServiceBusConnection": settings.service_bus_connection or "",
        },
    )


async def fail_for_an_unknown_candidate(pipeline):
    """A screening about a candidate neither the ATS nor the portal knows: failed (404)."""
    cand = ev.candidate()
    event = ev.screening_event(cand["id"], 85, "advance")
    assert (await pipeline.post(event)).status == 202
    await pipeline.drain()
    [row] = pipeline.rows("SELECT status, last_error FROM webhook_events WHERE event_id = %s", event["id"])
    assert row["status"] == "failed"
    assert "404" in row["last_error"]
    return cand, event


async def test_a_failed_event_replayed_after_its_cause_is_fixed_applies_once(pipeline, portal, ops):
    cand, event = await fail_for_an_unknown_candidate(pipeline)
    dry = await ops("events", "replay", event["id"], "--dry-run", "--json")
    assert dry.status == 0
    assert dry.data["replayed"][0]["new_message_id"] == f"{event['id']}:replay1"
    assert await pipeline.queued() == []  # the dry run sent nothing
    assert pipeline.rows("SELECT 1 FROM audit_log") == []

    await portal.admin.seed_candidate(cand)  # the portal now knows the candidate
    run = await ops("events", "replay", event["id"])
    assert run.status == 0, run.err
    assert "replayed 1 failed event(s)" in run.out
    [queued] = await pipeline.queued()
    assert queued["message_id"] == f"{event['id']}:replay1"
    assert queued["application_properties"]["replay"] == 1
    await pipeline.drain()

    [row] = pipeline.rows("SELECT status, last_error FROM webhook_events WHERE event_id = %s", event["id"])
    assert row == {"status": "processed", "last_error": None}
    assert pipeline.candidate(cand["id"])["stage"] == "assessment"  # advance + strong
    assert len(pipeline.rows("SELECT 1 FROM portal_assessments")) == 1
    [audited] = pipeline.rows("SELECT actor, action, subject, details FROM audit_log")
    assert (audited["action"], audited["subject"]) == ("events.replay", event["id"])
    assert audited["details"]["message_id"] == f"{event['id']}:replay1"
    # applied: it is no longer a failed event, so it is not replayed again
    again = await ops("events", "replay", event["id"])
    assert again.status == 1
    assert "is processed: only failed events are replayed" in again.out


async def test_a_replay_that_fails_again_keeps_the_new_reason_and_the_next_gets_a_new_id(pipeline, ops):
    _, event = await fail_for_an_unknown_candidate(pipeline)
    assert (await ops("events", "replay", event["id"])).status == 0
    await pipeline.drain()
    [row] = pipeline.rows("SELECT status, attempts FROM webhook_events WHERE event_id = %s", event["id"])
    assert row["status"] == "failed"  # the portal still does not know the candidate
    run = await ops("events", "replay", "--failed", "--json")
    assert [r["new_message_id"] for r in run.data["replayed"]] == [f"{event['id']}:replay2"]


async def test_a_plain_resend_of_a_failed_event_is_still_a_duplicate(pipeline, portal):
    cand, event = await fail_for_an_unknown_candidate(pipeline)
    await portal.admin.seed_candidate(cand)
    resend = OutboundMessage(
        body=ev.body_of(event), message_id=f"{event['id']}:again", application_properties={}
    )
    await pipeline.runtime.sender.send(PORTAL_EVENTS, [resend])
    [report] = await pipeline.drain()
    assert report.duplicates == 1
    assert pipeline.rows("SELECT status FROM webhook_events") == [{"status": "failed"}]


async def test_failed_events_are_chosen_by_type_and_events_without_a_payload_are_skipped(pipeline, ops):
    _, screening = await fail_for_an_unknown_candidate(pipeline)
    unknown = ev.assessment_event(ev.candidate()["id"], 70)
    assert (await pipeline.post(unknown)).status == 202
    await pipeline.drain()
    pipeline_rows = pipeline.rows("SELECT event_id FROM webhook_events WHERE status = 'failed' ORDER BY 1")
    assert len(pipeline_rows) == 2
    with_type = await ops(
        "events", "replay", "--failed", "--type", "screening.completed", "--dry-run", "--json"
    )
    assert [r["event_id"] for r in with_type.data["replayed"]] == [screening["id"]]
    # a failure whose payload was not stored (no consent, or purged) cannot be sent
    pipeline.rows("UPDATE webhook_events SET payload = '{}' WHERE event_id = %s RETURNING 1", unknown["id"])
    run = await ops("events", "replay", "--failed", "--json")
    assert [r["event_id"] for r in run.data["skipped"]] == [unknown["id"]]
    assert [r["event_id"] for r in run.data["replayed"]] == [screening["id"]]


async def test_replaying_what_is_not_there_says_so(ops):
    run = await ops("events", "replay", "evt_nowhere")
    assert run.status == 1
    assert "no event evt_nowhere" in run.out
    nothing = await ops("events", "replay", "--failed")
    assert nothing.status == 1
