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

    before = metrics.value("alerts_raised", kind="message_parked")
    async with httpx.AsyncClient(transport=httpx.MockTransport(teams)) as client:
        await Alerter("https://hooks.example/teams", client).raise_alert("message_parked", "evt_1 parked")
    assert posted == [
        ("https://hooks.example/teams", {"text": "[portal-integration] message_parked: evt_1 parked"})
    ]
    assert metrics.value("alerts_raised", kind="message_parked") == before + 1
    assert "ALERT message_parked: evt_1 parked" in caplog.text


async def test_an_unreachable_alert_channel_is_logged_not_raised(caplog):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        await Alerter("https://hooks.example/teams", client).raise_alert("sync_failed", "cmd 1")
    assert "alert webhook unreachable (ConnectError)" in caplog.text


async def test_without_a_channel_the_alert_is_only_logged(caplog):
    await Alerter(None).raise_alert("message_parked", "evt_2 parked")
    assert "ALERT message_parked: evt_2 parked" in caplog.text
