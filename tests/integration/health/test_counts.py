"""Counts with no row, in Redis per-minute buckets shared by every instance: written in the
background, summed by window, kept while Redis is away."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shared import metrics
from shared.health.counts import KEEP_SECONDS, Count, MinuteCounts, field_of, parse_field, total
from tests.support.tcp_proxy import TcpProxy


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_field_names_its_counter_and_labels():
    field = field_of(
        "deliveries_rejected", {"status": "401", "endpoint": "webhooks", "reason": "no_matching_signature"}
    )
    assert field == "deliveries_rejected|endpoint=webhooks,reason=no_matching_signature,status=401"
    assert parse_field(field) == Count(
        "deliveries_rejected",
        (("endpoint", "webhooks"), ("reason", "no_matching_signature"), ("status", "401")),
    )


async def test_two_instances_add_up_per_minute_and_per_window(redis_client, redis_prefix):
    clock = Clock(1_800_000_000.0)
    first, second = (
        MinuteCounts(redis_client, redis_prefix, clock=clock),
        MinuteCounts(redis_client, redis_prefix, clock=clock),
    )
    first.record("deliveries_accepted", 3, {"type": "candidate.created"})
    second.record("deliveries_accepted", 2, {"type": "candidate.created"})
    second.record("events_handled", 9, {"outcome": "processed"})  # has rows: not kept here
    clock.now += 120
    first.record("deliveries_already_processed", 1, {})
    await first.flush()
    await second.flush()
    minute = int(clock.now // 60)
    accepted = Count("deliveries_accepted", (("type", "candidate.created"),))
    by_minute = await first.minutes(minute - 2, minute)
    assert by_minute == {minute - 2: {accepted: 5}, minute: {Count("deliveries_already_processed", ()): 1}}
    assert await first.window(60) == {Count("deliveries_already_processed", ()): 1}
    assert await second.window(300) == {accepted: 5, Count("deliveries_already_processed", ()): 1}
    ttl = await redis_client.ttl(first.key(minute))
    assert KEEP_SECONDS - 5 < ttl <= KEEP_SECONDS


async def test_the_metrics_listener_feeds_the_runtime_counts(runtime, redis_client, redis_prefix):
    metrics.increment("deliveries_rejected", endpoint="webhooks", status="413", reason="body_too_large")
    await runtime.counts.flush()
    window = await runtime.counts.window(300)
    assert (
        window[
            Count(
                "deliveries_rejected",
                (("endpoint", "webhooks"), ("reason", "body_too_large"), ("status", "413")),
            )
        ]
        == 1
    )


async def test_counts_made_while_redis_is_away_are_written_when_it_returns(
    redis_url, redis_prefix, redis_client
):
    parts = urlsplit(redis_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    client = aioredis.Redis(
        host="127.0.0.1",
        port=proxy.port,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    counts = MinuteCounts(client, redis_prefix)
    try:
        proxy.cut()
        counts.record("deliveries_accepted", 4, {})
        await counts.flush()  # fails quietly: kept
        assert await MinuteCounts(redis_client, redis_prefix).window(300) == {}
        proxy.restore()
        counts.record("deliveries_accepted", 1, {})
        await counts.flush()
        assert await MinuteCounts(redis_client, redis_prefix).window(300) == {
            Count("deliveries_accepted", ()): 5
        }
    finally:
        await client.aclose()
        await proxy.close()


@pytest.mark.parametrize(("start", "stop"), [(0, 179), (17, 163), (60, 119), (61, 118), (5, 40)])
async def test_a_span_read_through_hours_equals_the_sum_of_its_minutes(
    redis_client, redis_prefix, start, stop
):
    base = 29_000_000 * 60  # a whole hour, in minutes
    for offset in range(0, 180, 7):
        counts = MinuteCounts(redis_client, redis_prefix, clock=Clock((base + offset) * 60.0 + 1))
        counts.record("deliveries_accepted", offset + 1, {})
        counts.record("import_lines", 1, {"status": "duplicate"})
        await counts.flush()
    reader = MinuteCounts(redis_client, redis_prefix)
    expected = total(await reader.minutes(base + start, base + stop))
    assert expected  # the span holds counts
    assert await reader.span(base + start, base + stop) == expected
