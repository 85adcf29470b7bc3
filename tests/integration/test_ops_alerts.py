"""``python -m ops alerts list|resolve`` against incidents the app's own alerter recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.runtime import Runtime
from tests.support.alert_channel import AlertChannel, running_alert_channel
from tests.support.ops import Ops


@pytest.fixture
async def channel() -> AsyncIterator[AlertChannel]:
    async with running_alert_channel() as ch:
        yield ch


@pytest.fixture
async def alerting(app_environ, channel) -> AsyncIterator[Runtime]:
    runtime = await Runtime.from_environ({**app_environ, "ALERT_WEBHOOK_URL": channel.url})
    yield runtime
    await runtime.close()


@pytest.fixture
def ops(capsys, app_environ, channel) -> Ops:
    return Ops(capsys, {**app_environ, "ALERT_WEBHOOK_URL": channel.url, "ALERT_FORMAT": "slack"})


async def raise_twice(runtime: Runtime, kind: str, key: str) -> None:
    for _ in range(2):
        await runtime.alerter.raise_alert(kind, key, f"{kind} about {key}")
    await runtime.alerter.drain()


async def test_list_shows_open_incidents_with_how_they_resolve(alerting, ops):
    await raise_twice(alerting, "document_rejected", "doc-1")
    await raise_twice(alerting, "sync_failed", "cmd-1")
    run = await ops("alerts", "list", "--json")
    assert run.status == 0
    by_kind = {a["kind"]: a for a in run.data["alerts"]}
    assert by_kind["document_rejected"]["count"] == 2
    assert by_kind["document_rejected"]["resolves"].startswith("by an operator")
    assert by_kind["sync_failed"]["resolves"] == "by itself once the row is retried and no longer failed"
    text = await ops("alerts", "list", "--kind", "sync_failed")
    assert text.lines[0].split()[:3] == ["kind", "key", "count"]
    assert "cmd-1" in text.lines[1]


async def test_resolve_closes_the_incident_posts_it_and_a_new_occurrence_is_posted_again(
    alerting, ops, channel, redis_client, redis_prefix
):
    await raise_twice(alerting, "document_rejected", "doc-2")
    dry = await ops("alerts", "resolve", "document_rejected", "doc-2", "--dry-run")
    assert dry.status == 0
    assert (await ops("alerts", "list", "--json")).data["count"] == 1  # the dry run changed nothing
    run = await ops("alerts", "resolve", "document_rejected", "doc-2")
    assert run.status == 0, run.err
    assert channel.texts() == [
        "*[portal-integration] ALERT document_rejected (doc-2)*",
        "*[portal-integration] RESOLVED document_rejected (doc-2)*",
    ]
    assert not await redis_client.exists(f"{redis_prefix}alert:document_rejected:doc-2")
    assert (await ops("alerts", "list", "--json")).data["count"] == 0
    closed = (await ops("alerts", "list", "--all", "--json")).data["alerts"]
    assert [(a["resolved_by"], a["count"]) for a in closed] == [("operator", 2)]
    again = await ops("alerts", "resolve", "document_rejected", "doc-2")
    assert again.status == 1
    await raise_twice(alerting, "document_rejected", "doc-2")
    assert len(channel.posts) == 3  # a new incident, posted


async def test_resolving_needs_redis(ops, app_environ):
    run = await ops(
        "alerts", "resolve", "sync_failed", "x", environ={"DATABASE_URL": app_environ["DATABASE_URL"]}
    )
    assert run.status == 2
    assert "REDIS_URL" in run.err
