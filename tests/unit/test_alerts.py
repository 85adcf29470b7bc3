"""Alerts reach the operator's Teams/Slack webhook, and a dead alert channel never breaks a flow."""

import json
import logging

import httpx

from shared import metrics
from shared.alerts import Alerter


async def test_an_alert_is_logged_counted_and_posted_as_text(caplog):
    posted = []

    def teams(request: httpx.Request) -> httpx.Response:
        posted.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200)

    before = metrics.value("alerts_raised", kind="event_parked")
    async with httpx.AsyncClient(transport=httpx.MockTransport(teams)) as client:
        alerter = Alerter("https://hooks.example/teams", client)
        await alerter.raise_alert("event_parked", "portal-events", "evt_1 parked")
        await alerter.drain()
    assert posted == [
        (
            "https://hooks.example/teams",
            {"text": "[portal-integration] event_parked (portal-events): evt_1 parked"},
        )
    ]
    assert metrics.value("alerts_raised", kind="event_parked") == before + 1
    assert "ALERT event_parked [portal-events]: evt_1 parked" in caplog.text


async def test_an_unreachable_alert_channel_is_logged_not_raised(caplog):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        alerter = Alerter("https://hooks.example/teams", client)
        await alerter.raise_alert("sync_failed", "cmd-1", "cmd 1")
        await alerter.drain()
    assert "alert webhook unreachable (ConnectError)" in caplog.text


async def test_a_slow_alert_channel_never_holds_up_the_flow():
    import asyncio

    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
        alerter = Alerter("https://hooks.example/teams", client)
        async with asyncio.timeout(1):  # returns at once although the post has not finished
            await alerter.raise_alert("portal_circuit_open", "portal", "opened")
        release.set()
        await alerter.drain()


async def test_without_a_channel_the_alert_is_only_logged(caplog):
    await Alerter(None).raise_alert("event_parked", "portal-events", "evt_2 parked")
    assert "ALERT event_parked [portal-events]: evt_2 parked" in caplog.text
