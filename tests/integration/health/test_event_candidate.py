"""Every recorded event names the portal candidate it is about, on both paths of the processor,
so that recovery commands find a candidate's events by an index, not by reading payloads."""

from __future__ import annotations

from shared.messaging import PORTAL_EVENTS, OutboundMessage
from tests.support import events as ev


async def test_events_record_their_candidate_on_the_fast_path(pipeline):
    cand = ev.candidate()
    events = [ev.profile_event(cand), ev.screening_event(cand["id"], 55, "review", created=1)]
    for event in events:
        assert (await pipeline.post(event)).status == 202
    await pipeline.drain()
    rows = pipeline.rows("SELECT event_id, portal_candidate_id FROM webhook_events ORDER BY event_id")
    assert {r["event_id"]: r["portal_candidate_id"] for r in rows} == {e["id"]: cand["id"] for e in events}


async def test_a_failed_event_still_names_its_candidate(pipeline):
    cand = ev.candidate()
    ok = ev.profile_event(cand)
    # an answer about an offer the ATS holds for another candidate fails
    other = ev.candidate()
    offer_id = "0b4b6c2e-4f0e-4bb4-9f61-3f0a3c0d9a11"
    for event in (ok, ev.profile_event(other), ev.offer_event(other["id"], offer_id, created=1)):
        assert (await pipeline.post(event)).status == 202
    await pipeline.drain()
    foreign = ev.offer_event(cand["id"], offer_id, status="declined", created=2)
    assert (await pipeline.post(foreign)).status == 202
    await pipeline.drain()
    [row] = pipeline.rows(
        "SELECT status, portal_candidate_id FROM webhook_events WHERE event_id = %s", foreign["id"]
    )
    assert row == {"status": "failed", "portal_candidate_id": cand["id"]}


async def test_an_unreadable_event_is_recorded_without_a_candidate(pipeline):
    unreadable = OutboundMessage(body=b"[1, 2]", message_id="evt_unreadable", application_properties={})
    await pipeline.runtime.sender.send(PORTAL_EVENTS, [unreadable])
    await pipeline.drain()
    [row] = pipeline.rows("SELECT status, portal_candidate_id FROM webhook_events")
    assert row == {"status": "failed", "portal_candidate_id": None}
