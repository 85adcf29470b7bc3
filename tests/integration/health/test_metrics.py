"""Every metric's arithmetic against rows and counts the test writes, percentiles included."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from shared.health.collect import collect
from shared.health.samples import prometheus_text
from shared.messaging import PORTAL_EVENTS, OutboundMessage
from tests.integration.health.conftest import percentile_cont
from tests.support import events as ev
from tests.support.events import signed

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def quantiles(values):
    return {f"p{int(q * 100)}": round(percentile_cont(values, q), 3) for q in (0.5, 0.95, 0.99)}


async def test_event_windows_count_outcomes_and_take_percentiles_of_receipt_to_applied(runtime, rows):
    # last 5 minutes: 10 processed taking 1..10 s, 2 ignored, 3 failed (two reasons)
    recent = [float(s) for s in range(1, 11)]
    for seconds in recent:
        rows.event("processed", received_at=ago(minutes=2, seconds=seconds), processed_at=ago(minutes=2))
    for _ in range(2):
        rows.event(
            "ignored", received_at=ago(minutes=3), processed_at=ago(minutes=3), reason="unknown event type"
        )
    rows.event("failed", received_at=ago(minutes=1), processed_at=ago(minutes=1), reason="bad data: data.x")
    rows.event("failed", received_at=ago(minutes=1), processed_at=ago(minutes=1), reason="bad data: data.x")
    rows.event("failed", received_at=ago(minutes=1), processed_at=ago(minutes=1), reason="404")
    # earlier in the hour: two slow ones; earlier in the day: one; outside every window: two
    rows.event("processed", received_at=ago(minutes=40, seconds=100), processed_at=ago(minutes=40))
    rows.event("processed", received_at=ago(minutes=50, seconds=200), processed_at=ago(minutes=50))
    rows.event("processed", received_at=ago(hours=5, seconds=1000), processed_at=ago(hours=5))
    rows.event("failed", received_at=ago(hours=6), processed_at=ago(hours=6), reason="404")
    rows.event("processed", received_at=ago(hours=25), processed_at=ago(hours=25))
    rows.event("processed", received_at=ago(minutes=1), processed_at=NOW + timedelta(seconds=5))

    events = (await collect(runtime.health_sources, now=NOW))["events"]

    assert events["5m"] == {
        "recorded": 15,
        "processed": 10,
        "ignored": 2,
        "failed": 3,
        "success_rate": round(12 / 15, 4),
        "latency_seconds": quantiles(recent),
        "failed_by_reason": {"bad data: data.x": 2, "404": 1},
    }
    hour = [*recent, 100.0, 200.0]
    assert events["1h"]["recorded"] == 17
    assert events["1h"]["latency_seconds"] == quantiles(hour)
    day = [*hour, 1000.0]
    assert (events["24h"]["recorded"], events["24h"]["failed"]) == (19, 4)
    assert events["24h"]["success_rate"] == round((13 + 2) / 19, 4)
    assert events["24h"]["latency_seconds"] == quantiles(day)
    assert events["24h"]["failed_by_reason"] == {"404": 2, "bad data: data.x": 2}


async def test_windows_with_nothing_in_them_say_so(runtime):
    events = (await collect(runtime.health_sources, now=NOW))["events"]
    assert events["5m"] == {
        "recorded": 0,
        "processed": 0,
        "ignored": 0,
        "failed": 0,
        "success_rate": None,
        "latency_seconds": {"p50": None, "p95": None, "p99": None},
        "failed_by_reason": {},
    }


async def test_deliveries_come_from_redis_and_rejected_deliveries_together(pipeline):
    """Through the real receiver: 202s, a 200 for a processed event, 401, 413 (Redis, no row),
    422 and 400 (rows in rejected_deliveries)."""
    runtime = pipeline.runtime
    valid = [ev.profile_event(ev.candidate()) for _ in range(3)]
    for event in valid:
        assert (await pipeline.post(event)).status == 202
    await pipeline.drain()
    assert (await pipeline.post(valid[0])).status == 200  # already processed: Redis fast path
    other_secret = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    headers, body = signed(other_secret, ev.profile_event(ev.candidate()))
    assert (await runtime.receiver.receive(headers, body)).status == 401
    big = b"x" * (runtime.settings.webhook_max_body_bytes + 1)
    assert (await runtime.receiver.receive(headers, big)).status == 413
    assert (await pipeline.post(ev.profile_event(ev.candidate(email="not-an-email")))).status == 422
    malformed = b"{not json"
    assert (
        await runtime.receiver.receive(ev.sign(pipeline.secret, "evt_malformed", malformed), malformed)
    ).status == 400

    metrics = await collect(runtime.health_sources, now=datetime.now(UTC))

    window = metrics["deliveries"]["5m"]
    assert window["accepted"] == 3
    assert window["duplicates"] == 1
    assert window["unqueued"] == 0
    by_status = {(r["status"], r["reason"]): r["deliveries"] for r in window["rejected_by_reason"]}
    assert by_status[(401, "no_matching_signature")] == 1
    assert by_status[(413, "body_too_large")] == 1
    assert by_status[(422, "invalid_data")] == 1
    assert sum(n for (status, _), n in by_status.items() if status == 400) == 1
    assert window["rejected"] == 4
    assert window["received"] == 3 + 1 + 4
    assert metrics["deliveries"]["24h"] == window  # one window's deliveries are in every longer one
    assert metrics["unavailable"] == {}


async def test_refusals_with_a_row_are_taken_from_the_table_not_from_redis(runtime, rows):
    rows.rejection(422, "invalid_data", received_at=ago(minutes=1))
    rows.rejection(422, "invalid_data", received_at=ago(minutes=30))
    rows.rejection(400, "malformed:not_json", received_at=ago(hours=2))
    rows.rejection(422, "consent_missing", received_at=ago(hours=30))
    deliveries = (await collect(runtime.health_sources, now=NOW))["deliveries"]
    assert deliveries["5m"]["rejected_by_reason"] == [
        {"status": 422, "reason": "invalid_data", "deliveries": 1}
    ]
    assert deliveries["1h"]["rejected"] == 2
    assert deliveries["24h"]["rejected_by_reason"] == [
        {"status": 422, "reason": "invalid_data", "deliveries": 2},
        {"status": 400, "reason": "malformed:not_json", "deliveries": 1},
    ]


async def test_outbound_calls_by_operation_and_outcome_with_latency(runtime, rows):
    offers = [120, 80, 200, 95]
    for ms in offers:
        rows.call("offer.send", "succeeded", ms, at=ago(minutes=2))
    rows.call("offer.send", "unavailable", 10000, at=ago(minutes=3), status=503)
    rows.call("interview.request", "succeeded", 50, at=ago(minutes=30))
    rows.call("interview.request", "succeeded", 70, at=ago(hours=30))
    rows.execute(  # inbound rows are not calls
        "INSERT INTO portal_activity_log (direction, operation, outcome, created_at) "
        "VALUES ('inbound', 'candidate.created', 'processed', %s)",
        ago(minutes=1),
    )
    outbound = (await collect(runtime.health_sources, now=NOW))["outbound"]
    assert outbound["5m"] == [
        {
            "operation": "offer.send",
            "outcome": "succeeded",
            "calls": 4,
            "latency_ms": {
                f"p{int(q * 100)}": round(percentile_cont(offers, q), 1) for q in (0.5, 0.95, 0.99)
            },
        },
        {
            "operation": "offer.send",
            "outcome": "unavailable",
            "calls": 1,
            "latency_ms": {"p50": 10000.0, "p95": 10000.0, "p99": 10000.0},
        },
    ]
    assert [(c["operation"], c["calls"]) for c in outbound["1h"]] == [
        ("interview.request", 1),
        ("offer.send", 4),
        ("offer.send", 1),
    ]


async def test_sync_queue_pending_failed_and_the_oldest_due_age(runtime, rows):
    def row(status, next_retry=None, lease=None):
        rows.execute(
            "INSERT INTO sync_queue (command_id, operation_type, entity_id, payload, status, next_retry, "
            "lease_until, lease_owner) VALUES (%s, 'offer.send', 'x', '{}', %s, %s, %s, %s)",
            uuid.uuid4(),
            status,
            next_retry,
            lease,
            uuid.uuid4() if lease else None,
        )

    row("pending", ago(seconds=90))
    row("pending", ago(seconds=30))
    row("pending", NOW + timedelta(seconds=60))  # not due yet
    row("processing", lease=NOW + timedelta(seconds=60))
    row("failed")
    row("failed")
    row("completed")
    sync = (await collect(runtime.health_sources, now=NOW))["sync_queue"]
    assert sync == {"pending": 3, "processing": 1, "failed": 2, "oldest_due_age_seconds": 90.0}


async def test_documents_by_status_and_transfers_per_window(runtime, rows):
    [[candidate]] = rows.execute(
        "INSERT INTO candidates (portal_candidate_id) VALUES ('cand_docs') RETURNING id"
    )
    for n, (status, changed) in enumerate(
        [
            ("pending", ago(minutes=1)),
            ("pending", ago(minutes=1)),
            ("transferred", ago(minutes=2)),
            ("verified", ago(minutes=20)),
            ("verified", ago(hours=3)),
            ("rejected", ago(minutes=4)),
            ("failed", ago(minutes=4)),
        ]
    ):
        rows.execute(
            "INSERT INTO candidate_documents (candidate_id, portal_document_id, kind, file_name, "
            "content_type, size_bytes, sha256, status, updated_at) "
            "VALUES (%s, %s, 'resume', 'cv.pdf', 'application/pdf', 1, %s, %s, %s)",
            candidate,
            f"doc_{n}",
            f"{n:064x}",
            status,
            changed,
        )
    documents = (await collect(runtime.health_sources, now=NOW))["documents"]
    assert documents == {
        "pending": 2,
        "transferred": 1,
        "failed": 1,
        "rejected": 1,
        "transferred_in_window": {"5m": 1, "1h": 2, "24h": 3},
    }


async def test_queues_active_scheduled_dead_letters_and_parked(runtime, rows):
    await runtime.sender.send(
        PORTAL_EVENTS,
        [OutboundMessage(body=b"{}", message_id=f"m{n}", application_properties={}) for n in range(3)],
    )
    later = OutboundMessage(
        body=b"{}",
        message_id="later",
        application_properties={},
        scheduled_enqueue_time=datetime.now(UTC) + timedelta(hours=1),
    )
    await runtime.sender.send(PORTAL_EVENTS, [later])
    rows.execute(
        "INSERT INTO devhost.messages (queue, message_id, body, dead_letter_reason) "
        "VALUES ('ats-outbound/$deadletterqueue', 'dead-1', '\\x7b7d', 'MaxDeliveryCountExceeded')"
    )
    rows.execute(
        "INSERT INTO parked_messages (queue, message_id, body, reason, attempts) "
        "VALUES ('portal-events', 'p1', '{}', 'transient failures for 24 hours', 40)"
    )
    queues = (await collect(runtime.health_sources, now=NOW))["queues"]
    assert queues["portal-events"] == {"active": 3, "scheduled": 1, "dead_letters": 0, "parked": 1}
    assert queues["ats-outbound"] == {"active": 0, "scheduled": 0, "dead_letters": 1, "parked": 0}
    assert queues["document-transfers"] == {"active": 0, "scheduled": 0, "dead_letters": 0, "parked": 0}


async def test_the_breaker_state_and_its_last_change_as_the_breaker_records_them(
    runtime, redis_client, redis_prefix
):
    from shared.circuit_breaker import CircuitBreaker

    clock = [NOW.timestamp()]
    breaker = CircuitBreaker(
        redis_client, redis_prefix, failure_threshold=5, cooldown_seconds=30, clock=lambda: clock[0]
    )

    async def seen() -> dict:
        return (await collect(runtime.health_sources, now=datetime.fromtimestamp(clock[0], UTC)))["breaker"]

    assert await seen() == {"state": "closed", "failures": 0, "open_until": None, "changed_at": None}
    for _ in range(5):
        await breaker.record_failure()
    opened = datetime.fromtimestamp(clock[0], UTC)
    state = await seen()
    assert (state["state"], state["failures"], state["changed_at"]) == ("open", 5, opened.isoformat())
    clock[0] += 10
    await breaker.record_failure()  # a late failure while open (an in-flight call): no new change
    assert (await seen())["changed_at"] == opened.isoformat()
    clock[0] += 31
    assert (await seen())["state"] == "half_open"
    await breaker.record_success()  # the probe succeeded: closed, and that is the last change
    closed = datetime.fromtimestamp(clock[0], UTC)
    assert await seen() == {
        "state": "closed",
        "failures": 0,
        "open_until": None,
        "changed_at": closed.isoformat(),
    }


async def test_open_alerts_by_kind(runtime, rows):
    for kind, key, resolved in [
        ("sync_failed", "a", None),
        ("sync_failed", "b", None),
        ("event_parked", "q", NOW),
    ]:
        rows.execute(
            "INSERT INTO alerts (kind, key, first_seen, last_seen, last_text, resolved_at) "
            "VALUES (%s, %s, %s, %s, 't', %s)",
            kind,
            key,
            ago(hours=1),
            ago(hours=1),
            resolved,
        )
    alerts = (await collect(runtime.health_sources, now=NOW))["alerts"]
    assert alerts == {"open": 2, "by_kind": {"sync_failed": 2}}


async def test_prometheus_text_parses_and_carries_the_same_figures(runtime, rows):
    for seconds in (1.0, 2.0, 3.0):
        rows.event("processed", received_at=ago(minutes=1, seconds=seconds), processed_at=ago(minutes=1))
    rows.event("failed", received_at=ago(minutes=1), processed_at=ago(minutes=1), reason='a "quoted"\nreason')
    metrics = await collect(runtime.health_sources, now=NOW)
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text(metrics))}
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert families["portal_events"].type == "gauge"
    assert values[("portal_events", (("outcome", "processed"), ("window", "5m")))] == 3
    assert values[("portal_events_success_rate", (("window", "5m"),))] == 0.75
    assert values[("portal_event_latency_seconds", (("quantile", "0.5"), ("window", "5m")))] == 2.0
    assert values[("portal_events_failed", (("reason", 'a "quoted"\nreason'), ("window", "5m")))] == 1
    assert values[("portal_queue_messages", (("queue", "portal-events"), ("state", "dead_letters")))] == 0
    assert values[("portal_source_up", (("source", "postgres"),))] == 1
    json.dumps(metrics)  # and the JSON form is JSON


async def test_a_source_that_is_down_leaves_its_figures_null_and_names_itself(app_environ):
    from shared.runtime import Runtime

    runtime = await Runtime.from_environ({**app_environ, "REDIS_URL": "redis://127.0.0.1:9/0"})
    try:
        metrics = await collect(runtime.health_sources, now=NOW)
    finally:
        await runtime.close()
    assert metrics["deliveries"] == {"5m": None, "1h": None, "24h": None}
    assert metrics["breaker"] is None
    assert set(metrics["unavailable"]) == {"redis", "breaker"}
    assert metrics["events"]["5m"]["recorded"] == 0  # PostgreSQL's figures are still there
