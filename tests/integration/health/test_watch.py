"""The health timer: conditions raised while they hold and resolved when they clear, alerts raised
by the flows resolved once their cause is gone, failed posts retried."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.runtime import Runtime
from tests.support.alert_channel import AlertChannel, running_alert_channel


@pytest.fixture
async def channel() -> AsyncIterator[AlertChannel]:
    async with running_alert_channel() as ch:
        yield ch


@pytest.fixture
async def watched(app_environ, channel) -> AsyncIterator[Runtime]:
    runtime = await Runtime.from_environ(
        {**app_environ, "ALERT_WEBHOOK_URL": channel.url, "ALERT_FORMAT": "slack", "ALERT_MIN_EVENTS": "4"}
    )
    yield runtime
    await runtime.close()


async def run(runtime: Runtime):
    report = await runtime.health_watch.run()
    await runtime.alerter.drain()
    return report


def open_alerts(rows):
    return rows.execute("SELECT kind, key FROM alerts WHERE resolved_at IS NULL ORDER BY kind, key")


async def test_a_healthy_integration_raises_nothing(watched, channel, rows):
    report = await run(watched)
    assert (report.raised, report.resolved, report.unavailable) == ([], [], {})
    assert channel.posts == []


async def test_the_open_breaker_is_one_incident_resolved_when_it_closes(
    watched, channel, rows, redis_client, redis_prefix
):
    key = f"{redis_prefix}breaker:portal"
    await redis_client.hset(key, mapping={"failures": 5, "open_until": repr(time.time() + 30)})
    for _ in range(3):  # three minutes open
        report = await run(watched)
        assert report.raised == ["portal_circuit_open [portal]"]
    assert channel.texts() == ["*[portal-integration] ALERT portal_circuit_open (portal)*"]
    assert rows.execute("SELECT count FROM alerts WHERE kind = 'portal_circuit_open'") == [(3,)]
    await redis_client.delete(key)  # the probe succeeded: the breaker closed
    report = await run(watched)
    assert report.resolved == ["portal_circuit_open [portal]"]
    assert channel.texts()[-1] == "*[portal-integration] RESOLVED portal_circuit_open (portal)*"
    assert open_alerts(rows) == []
    metrics_now = await run(watched)
    assert metrics_now.resolved == []  # nothing more to resolve


async def test_failing_events_and_slow_latency_are_judged_on_five_minutes(watched, channel, rows):
    now = datetime.now(UTC)
    for n in range(4):
        rows.event("failed", received_at=now - timedelta(seconds=30), processed_at=now, reason=f"r{n % 2}")
    rows.event("processed", received_at=now - timedelta(seconds=400), processed_at=now)
    report = await run(watched)
    assert sorted(report.raised) == ["events_failing [portal-events]", "latency_high [portal-events]"]
    texts = " ".join(post["text"] for post in channel.posts)
    assert "4 of 5 events failed in 5 min" in texts
    assert "p99 from receipt to applied 400.0 s" in texts


async def test_dead_letters_raise_per_queue_and_resolve_once_resubmitted(watched, channel, rows):
    await run(watched)  # devhost's queue tables exist once the transport was used
    rows.execute(
        "INSERT INTO devhost.messages (queue, message_id, body) "
        "VALUES ('document-transfers/$deadletterqueue', 'd1', '\\x7b7d')"
    )
    report = await run(watched)
    assert report.raised == ["dead_letters [document-transfers]"]
    assert (
        "python -m ops dead-letters resubmit document-transfers --all --source dead-letters"
        in channel.posts[0]["text"]
    )
    rows.execute("DELETE FROM devhost.messages")
    report = await run(watched)
    assert report.resolved == ["dead_letters [document-transfers]"]


async def test_a_parked_event_alert_resolves_once_the_parked_messages_are_gone(watched, channel, rows):
    rows.execute(
        "INSERT INTO parked_messages (queue, message_id, body, reason, attempts) "
        "VALUES ('portal-events', 'evt_1', '{}', 'transient failures for 24 hours', 30)"
    )
    await watched.alerter.raise_alert("event_parked", "portal-events", "message evt_1 parked")
    report = await run(watched)
    assert report.resolved == []  # still parked
    rows.execute("DELETE FROM parked_messages")  # resubmitted
    report = await run(watched)
    assert report.resolved == ["event_parked [portal-events]"]
    assert channel.texts() == [
        "*[portal-integration] ALERT event_parked (portal-events)*",
        "*[portal-integration] RESOLVED event_parked (portal-events)*",
    ]
    assert "Resolved by: `cause cleared`" in channel.posts[1]["text"]


async def test_a_failed_sync_row_alert_resolves_once_the_row_is_retried(watched, rows):
    command = uuid.uuid4()
    rows.execute(
        "INSERT INTO sync_queue (command_id, operation_type, entity_id, payload, status) "
        "VALUES (%s, 'offer.send', 'x', '{}', 'failed')",
        command,
    )
    await watched.alerter.raise_alert("sync_failed", str(command), f"command {command} failed")
    assert (await run(watched)).resolved == []
    rows.execute("UPDATE sync_queue SET status = 'completed'")
    assert (await run(watched)).resolved == [f"sync_failed [{command}]"]


async def test_a_refused_api_key_resolves_once_a_call_succeeds(watched, rows):
    rows.call(
        "offer.send", "credentials_rejected", 40, at=datetime.now(UTC) - timedelta(minutes=2), status=401
    )
    await watched.alerter.raise_alert("portal_credentials_rejected", "portal", "401 to our key")
    assert (await run(watched)).resolved == []
    rows.call("offer.send", "succeeded", 40, at=datetime.now(UTC))
    assert (await run(watched)).resolved == ["portal_credentials_rejected [portal]"]


async def test_a_rejected_document_stays_open_until_an_operator_resolves_it(watched, rows):
    await watched.alerter.raise_alert("document_rejected", "doc-1", "rejected: not a PDF")
    await run(watched)
    await run(watched)
    assert open_alerts(rows) == [("document_rejected", "doc-1")]
    assert await watched.alerter.resolve("document_rejected", "doc-1", by="operator") is True
    assert open_alerts(rows) == []


async def test_the_timer_retries_a_post_that_failed(watched, channel, rows):
    channel.status = 500
    await watched.alerter.raise_alert("document_rejected", "doc-x", "rejected")
    await watched.alerter.drain()
    rows.execute("UPDATE alerts SET next_post_at = now() - interval '1 second'")  # its minute has come
    channel.status = 200
    report = await run(watched)
    assert report.posts_retried == 1
    assert channel.texts() == ["*[portal-integration] ALERT document_rejected (doc-x)*"]
