"""Alerts reach the operator's Teams/Slack webhook in its format, once per incident, and a dead
alert channel never breaks a flow (no stores here: the integration tests have Redis and
PostgreSQL)."""

import asyncio
import json
import logging

import httpx
import pytest

from shared import metrics
from shared.alerts import Alerter
from shared.health.alert_posts import AlertFormat, AlertPost, choose_format, slack_payload, teams_payload


def recorder(posted: list, status: int = 200):
    def handle(request: httpx.Request) -> httpx.Response:
        posted.append((str(request.url), json.loads(request.content)))
        return httpx.Response(status)

    return handle


async def test_an_alert_is_logged_counted_and_posted_once_per_incident(caplog):
    posted: list = []
    before = metrics.value("alerts_raised", kind="event_parked")
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder(posted))) as client:
        alerter = Alerter("https://hooks.slack.com/services/T/B/x", client)
        for n in range(3):
            await alerter.raise_alert("event_parked", "portal-events", f"evt_{n} parked")
        await alerter.drain()
    [(url, payload)] = posted
    assert url == "https://hooks.slack.com/services/T/B/x"
    lines = payload["text"].split("\n")
    assert lines[:3] == [
        "*[portal-integration] ALERT event_parked (portal-events)*",
        "evt_0 parked",
        "Occurrences: `1`",
    ]
    assert "Resolve with: `python -m ops dead-letters resubmit portal-events --all --source parked`" in lines
    assert metrics.value("alerts_raised", kind="event_parked") == before + 3
    assert "ALERT event_parked [portal-events]: evt_2 parked" in caplog.text


async def test_an_unreachable_alert_channel_is_logged_not_raised(caplog):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        alerter = Alerter("https://hooks.example/teams", client)
        await alerter.raise_alert("sync_failed", "cmd-1", "cmd 1")
        await alerter.drain()
    assert "alert sync_failed (opened) not posted (ConnectError)" in caplog.text


async def test_a_slow_alert_channel_never_holds_up_the_flow():
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


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [
        (
            "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke",
            "auto",
            "teams",
        ),
        ("https://default123.environment.api.powerplatform.com/powerautomate/x", "auto", "teams"),
        ("https://contoso.webhook.office.com/webhookb2/x", "auto", "teams"),
        ("https://hooks.slack.com/services/T/B/x", "auto", "slack"),
        ("https://chat.example/hooks/x", "auto", "slack"),
        ("https://chat.example/hooks/x", "teams", "teams"),
        ("https://prod-1.logic.azure.com/x", "slack", "slack"),
    ],
)
def test_the_format_follows_the_setting_or_the_url(url, setting, expected):
    assert choose_format(url, setting) is AlertFormat(expected)


def test_slack_text_escapes_what_slack_would_read_as_markup():
    post = AlertPost("opened", "sync_failed", "cmd-1", "refused: <script> & more")
    assert slack_payload(post)["text"].split("\n")[1] == "refused: &lt;script&gt; &amp; more"


def test_a_resolution_card_is_green_and_names_who_resolved_it():
    card = teams_payload(
        AlertPost("resolved", "portal_circuit_open", "portal", "closed", resolved_by="operator")
    )
    content = card["attachments"][0]["content"]
    assert content["body"][0]["color"] == "Good"
    facts = {f["title"]: f["value"] for f in content["body"][2]["facts"]}
    assert facts["Resolved by"] == "operator"
    assert "Resolve with" not in facts
