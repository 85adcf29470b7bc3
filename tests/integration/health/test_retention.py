"""Payload retention: what is older than PAYLOAD_RETENTION_DAYS loses its payload (rows stay),
in batches, resuming from where the last run stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.recovery.retention import Retention

NOW = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def seed(rows) -> None:
    for days in (120, 95, 91, 89, 10):
        rows.event("processed", received_at=ago(days), processed_at=ago(days))
        rows.execute("UPDATE webhook_events SET payload = '{\"kept\": true}' WHERE payload = '{}'")
        rows.execute(
            "INSERT INTO rejected_deliveries (event_id, status_code, reason, payload, received_at) "
            "VALUES ('evt_r', 422, 'invalid_data', '{\"email\": \"x@example.com\"}', %s)",
            ago(days),
        )
        rows.execute(
            "INSERT INTO parked_messages (queue, message_id, body, reason, attempts, parked_at) "
            "VALUES ('portal-events', %s, '{\"id\": \"evt\"}', 'transient failures for 24 hours', 40, %s)",
            f"m{days}",
            ago(days),
        )


async def test_payloads_older_than_the_retention_are_purged_and_rows_stay(runtime, rows):
    seed(rows)
    retention = Retention(runtime.db, days=90, batch=2)  # batches of 2: several per table
    report = await retention.purge(NOW)
    assert report.purged == {"webhook_events": 3, "rejected_deliveries": 3, "parked_messages": 3}
    assert report.finished
    kept = rows.execute("SELECT payload = '{}'::jsonb FROM webhook_events ORDER BY processed_at")
    assert [purged for (purged,) in kept] == [True, True, True, False, False]
    refused = rows.execute("SELECT payload IS NULL FROM rejected_deliveries ORDER BY received_at")
    assert [purged for (purged,) in refused] == [True, True, True, False, False]
    parked = rows.execute("SELECT body FROM parked_messages ORDER BY parked_at")
    assert [body for (body,) in parked] == [{"purged": True}] * 3 + [{"id": "evt"}] * 2
    assert rows.execute("SELECT table_name, purged_before FROM retention_watermarks ORDER BY 1") == [
        ("parked_messages", ago(90)),
        ("rejected_deliveries", ago(90)),
        ("webhook_events", ago(90)),
    ]
    [(action, details)] = rows.execute("SELECT action, details FROM audit_log")
    assert action == "retention.purge"
    assert details["rows"] == report.purged
    # the next day: only what aged since, and nothing twice
    again = await retention.purge(NOW + timedelta(days=2))
    assert again.purged == {"webhook_events": 1, "rejected_deliveries": 1, "parked_messages": 1}


async def test_a_run_out_of_time_continues_next_time(runtime, rows):
    seed(rows)
    ticks = iter(range(1000))
    retention = Retention(runtime.db, days=90, batch=1, budget_seconds=1.5, timer=lambda: next(ticks))
    first = await retention.purge(NOW)
    assert not first.finished
    assert rows.execute("SELECT count(*) FROM webhook_events WHERE payload = '{}'::jsonb") == [(1,)]
    finished = await Retention(runtime.db, days=90).purge(NOW)
    assert finished.finished
    assert sum(finished.purged.values()) + sum(first.purged.values()) == 9
