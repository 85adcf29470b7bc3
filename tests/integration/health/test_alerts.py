"""One alert per incident against real Redis and PostgreSQL, posted to a local Teams/Slack
stand-in: de-duplication across instances, resolution, reminders, PostgreSQL down, failed posts
retried by the timer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.alerts import Alerter
from shared.db import create_pool
from shared.health.alert_state import AlertStore, RedisDedupe
from tests.support.alert_channel import AlertChannel, running_alert_channel
from tests.support.tcp_proxy import TcpProxy


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def channel() -> AsyncIterator[AlertChannel]:
    async with running_alert_channel() as ch:
        yield ch


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_alerter(runtime, channel, clock, redis_prefix):
    made: list[Alerter] = []

    def make(*, db=None, alert_format="slack", remind_after=timedelta(hours=24), redis=True) -> Alerter:
        alerter = Alerter(
            channel.url,
            alert_format=alert_format,
            store=AlertStore(db or runtime.db, timeout=1.0),
            dedupe=RedisDedupe(runtime.redis, redis_prefix, remind_after=remind_after) if redis else None,
            remind_after=remind_after,
            clock=clock,
        )
        made.append(alerter)
        return alerter

    yield make
    for alerter in made:
        await alerter.close()


def alert_rows(rows, kind=None):
    return rows.execute(
        "SELECT kind, key, count, resolved_at IS NOT NULL, notified_at IS NOT NULL, "
        "resolution_notified_at IS NOT NULL FROM alerts WHERE %s::text IS NULL OR kind = %s ORDER BY id",
        kind,
        kind,
    )


async def test_an_outage_is_one_incident_however_many_events_it_fails(make_alerter, channel, rows, caplog):
    alerter = make_alerter()
    for n in range(25):
        await alerter.raise_alert("portal_circuit_open", "portal", f"command {n} waits")
    await alerter.drain()
    assert len(channel.posts) == 1
    assert channel.texts()[0].startswith("*[portal-integration] ALERT portal_circuit_open (portal)*")
    assert alert_rows(rows) == [("portal_circuit_open", "portal", 25, False, True, False)]
    assert caplog.text.count("ALERT portal_circuit_open [portal]") == 25  # each occurrence is logged
    # another cause is another incident
    await alerter.raise_alert("sync_failed", "cmd-1", "command cmd-1 failed")
    await alerter.drain()
    assert len(channel.posts) == 2


async def test_two_instances_raising_at_once_post_once(make_alerter, channel, rows):
    first, second = make_alerter(), make_alerter()
    await asyncio.gather(
        *(a.raise_alert("event_parked", "portal-events", "evt parked") for a in [first, second] * 10)
    )
    await asyncio.gather(first.drain(), second.drain())
    assert len(channel.posts) == 1
    assert alert_rows(rows) == [("event_parked", "portal-events", 20, False, True, False)]


async def test_resolution_is_posted_and_the_next_occurrence_is_a_new_incident(make_alerter, channel, rows):
    alerter = make_alerter()
    await alerter.raise_alert("sync_failed", "cmd-7", "command cmd-7 (offer.send) failed: 422")
    await alerter.drain()
    assert await alerter.resolve("sync_failed", "cmd-7", by="operator") is True
    assert await alerter.resolve("sync_failed", "cmd-7", by="operator") is False  # nothing open now
    assert channel.texts()[1] == "*[portal-integration] RESOLVED sync_failed (cmd-7)*"
    assert "Resolved by: `operator`" in channel.posts[1]["text"]
    await alerter.raise_alert("sync_failed", "cmd-7", "failed again")
    await alerter.drain()
    assert len(channel.posts) == 3
    assert alert_rows(rows) == [
        ("sync_failed", "cmd-7", 1, True, True, True),
        ("sync_failed", "cmd-7", 1, False, True, False),
    ]


async def test_an_incident_still_occurring_after_the_remind_time_is_posted_again(
    make_alerter, channel, rows, redis_client, redis_prefix, clock
):
    alerter = make_alerter()
    await alerter.raise_alert("event_parked", "portal-events", "evt_1 parked")
    await alerter.drain()
    clock.now += timedelta(hours=24)
    await redis_client.delete(f"{redis_prefix}alert:event_parked:portal-events")  # its mark expired
    await alerter.raise_alert("event_parked", "portal-events", "evt_2 parked")
    await alerter.drain()
    assert channel.texts() == [
        "*[portal-integration] ALERT event_parked (portal-events)*",
        "*[portal-integration] STILL OPEN event_parked (portal-events)*",
    ]
    assert "Occurrences: `2`" in channel.posts[1]["text"]
    assert alert_rows(rows) == [("event_parked", "portal-events", 2, False, True, False)]


async def test_teams_gets_an_adaptive_card(make_alerter, channel):
    alerter = make_alerter(alert_format="teams")
    await alerter.raise_alert("document_rejected", "doc-1", "document doc-1 rejected: content is not a PDF")
    await alerter.drain()
    [post] = channel.posts
    assert post["type"] == "message"
    [attachment] = post["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"] == "[portal-integration] ALERT document_rejected (doc-1)"
    assert card["body"][1]["text"] == "document doc-1 rejected: content is not a PDF"
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Occurrences"] == "1"
    assert facts["Resolve with"] == "python -m ops documents list --status rejected"
    assert facts["Close by hand"] == "python -m ops alerts resolve document_rejected doc-1"


async def test_a_failed_post_is_retried_by_the_timer_not_by_waiting(make_alerter, channel, clock, rows):
    alerter = make_alerter()
    channel.status = 503
    await alerter.raise_alert("sync_failed", "cmd-9", "command cmd-9 failed")
    await alerter.drain()
    assert (channel.refused, channel.posts) == (1, [])
    [[attempts, pending, error]] = rows.execute(
        "SELECT post_attempts, next_post_at, last_post_error FROM alerts"
    )
    assert (attempts, pending, error) == (1, clock.now + timedelta(minutes=1), "HTTP 503")
    assert await alerter.retry_posts() == 0  # not due yet
    channel.status = 200
    clock.now += timedelta(minutes=1)
    assert await alerter.retry_posts() == 1
    assert channel.texts() == ["*[portal-integration] ALERT sync_failed (cmd-9)*"]
    assert alert_rows(rows) == [("sync_failed", "cmd-9", 1, False, True, False)]
    assert await alerter.retry_posts() == 0


async def test_failed_retries_back_off(make_alerter, channel, clock, rows):
    alerter = make_alerter()
    channel.status = 500
    await alerter.raise_alert("sync_failed", "cmd-3", "failed")
    await alerter.drain()
    for expected_wait in (2, 4, 8):
        clock.now += timedelta(hours=2)
        assert await alerter.retry_posts() == 0
        [[pending]] = rows.execute("SELECT next_post_at FROM alerts")
        assert pending == clock.now + timedelta(minutes=expected_wait)


@pytest.fixture
async def cut_database(database_url):
    """A pool to the test's database through a proxy the test cuts: PostgreSQL 'goes away'."""
    parts = urlsplit(database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    proxied = urlunsplit((parts.scheme, f"{parts.username}@127.0.0.1:{proxy.port}", parts.path, "", ""))
    pool = await create_pool(proxied)
    yield proxy, pool
    await pool.close()
    await proxy.close()


async def test_with_postgresql_down_an_alert_is_still_posted_once_and_logged(
    make_alerter, channel, cut_database, rows, caplog
):
    proxy, pool = cut_database
    alerter = make_alerter(db=pool)
    proxy.cut()
    for _ in range(3):
        await alerter.raise_alert("event_parked", "portal-events", "evt_9 parked")
    await alerter.drain()
    assert channel.texts() == ["*[portal-integration] ALERT event_parked (portal-events)*"]
    assert caplog.text.count("ALERT event_parked [portal-events]: evt_9 parked") == 3
    assert alert_rows(rows) == []
    # PostgreSQL back: the incident gets its row, marked as already posted (no second post)
    proxy.restore()
    await alerter.raise_alert("event_parked", "portal-events", "evt_10 parked")
    await alerter.drain()
    assert len(channel.posts) == 1
    assert alert_rows(rows) == [("event_parked", "portal-events", 1, False, True, False)]
    # and resolving it posts the resolution
    assert await alerter.resolve("event_parked", "portal-events", by="cause cleared") is True
    assert channel.texts()[-1] == "*[portal-integration] RESOLVED event_parked (portal-events)*"


async def test_with_postgresql_down_a_failed_post_waits_in_redis_for_the_timer(
    make_alerter, channel, cut_database
):
    proxy, pool = cut_database
    alerter = make_alerter(db=pool)
    proxy.cut()
    channel.status = 502
    await alerter.raise_alert("portal_credentials_rejected", "portal", "the portal answered 401 to our key")
    await alerter.drain()
    assert channel.posts == []
    channel.status = 200
    assert await alerter.retry_posts() == 1
    assert channel.texts() == ["*[portal-integration] ALERT portal_credentials_rejected (portal)*"]
    assert await alerter.retry_posts() == 0


async def test_with_redis_down_postgresql_decides_what_is_new(make_alerter, channel, rows, app_environ):
    from shared.runtime import Runtime

    runtime = await Runtime.from_environ({**app_environ, "REDIS_URL": "redis://127.0.0.1:9/0"})
    try:
        alerter = Alerter(
            channel.url,
            alert_format="slack",
            store=AlertStore(runtime.db),
            dedupe=RedisDedupe(runtime.redis, "x:", remind_after=timedelta(hours=1)),
        )
        for _ in range(4):
            await alerter.raise_alert("sync_failed", "cmd-2", "failed")
            await alerter.drain()
        assert await alerter.resolve("sync_failed", "cmd-2", by="operator") is True
        await alerter.close()
    finally:
        await runtime.close()
    assert channel.texts() == [
        "*[portal-integration] ALERT sync_failed (cmd-2)*",
        "*[portal-integration] RESOLVED sync_failed (cmd-2)*",
    ]
    assert alert_rows(rows) == [("sync_failed", "cmd-2", 4, True, True, True)]


async def test_with_both_stores_down_each_worker_posts_the_first_it_sees(channel, cut_database):
    proxy, pool = cut_database
    proxy.cut()
    import redis.asyncio as aioredis

    down = aioredis.Redis.from_url("redis://127.0.0.1:9/0")
    alerter = Alerter(
        channel.url,
        alert_format="slack",
        store=AlertStore(pool, timeout=0.5),
        dedupe=RedisDedupe(down, "x:", remind_after=timedelta(hours=1)),
    )
    try:
        for _ in range(3):
            await alerter.raise_alert("event_parked", "portal-events", "parked")
        await alerter.drain()
    finally:
        await alerter.close()
        await down.aclose()
    assert len(channel.posts) == 1
