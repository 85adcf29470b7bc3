"""The status page in a real headless Chromium, served by the function app under devhost: it
renders without a console error, its charts hold what the test delivered, a failure the test
injects appears with the command that resolves it, and it refreshes itself with its key."""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from shared.health.counts import MinuteCounts
from shared.messaging import PORTAL_EVENTS, OutboundMessage
from shared.messaging.pg_queue import PgQueueSender
from tests.integration.health.conftest import percentile_cont
from tests.support import events as ev
from tests.support.browser import chromium

KEY = "a-function-key"


async def post(app, event, secret=None):
    headers, body = ev.signed(secret or app.secret, event)
    return await app.http.post("/api/portal/webhooks", content=body, headers=headers)


async def poison(app, event_id: str) -> None:
    """A message that never came through the receiver (a hand-sent one): the processor fails it."""
    sender = PgQueueSender(app.database_url)
    try:
        body = b'{"id": "%s", "type": "candidate.created", "created_at": "2026-11-28T10:00:00Z", "data": {}}'
        await sender.send(
            PORTAL_EVENTS, [OutboundMessage(body=body % event_id.encode(), message_id=event_id)]
        )
    finally:
        await sender.close()


def fixed(moment: float) -> Callable[[], float]:
    return lambda: moment


def values(raw: str | None) -> list[float]:
    return [float(v) for v in (raw or "").split(",") if v]


async def test_the_dashboard_shows_what_happened_and_refreshes_with_its_key(running_app, tmp_path):
    app = running_app
    accepted = [ev.profile_event(ev.candidate()) for _ in range(4)]
    for event in accepted:
        assert (await post(app, event)).status_code == 202
    assert (await post(app, ev.profile_event(ev.candidate(email="nope")))).status_code == 422
    stranger = "whsec_" + base64.b64encode(b"not the portal's secret, 32 b..").decode()
    assert (await post(app, ev.profile_event(ev.candidate()), secret=stranger)).status_code == 401
    await poison(app, "evt_poison_1")
    await app.eventually(lambda: len(app.rows("SELECT 1 FROM webhook_events")) == 5)

    errors: list[str] = []
    requests: list[str] = []
    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        response = await page.goto(f"{app.base_url}/api/health/dashboard?code={KEY}&refresh=1")
        assert response is not None
        assert response.ok
        assert response.headers["content-type"].startswith("text/html")
        assert "nonce-" in response.headers["content-security-policy"]

        deliveries = page.locator('[data-chart="chart-deliveries"]')
        assert (
            sum(values(await deliveries.locator('[data-series="accepted"]').get_attribute("data-values")))
            == 4
        )
        assert (
            sum(values(await deliveries.locator('[data-series="rejected"]').get_attribute("data-values")))
            == 2
        )
        success = values(
            await page.locator('[data-chart="chart-success"] [data-series="success rate"]').get_attribute(
                "data-values"
            )
        )
        assert success
        assert min(success) < 100
        latency = values(
            await page.locator('[data-chart="chart-latency"] [data-series="p99"]').get_attribute(
                "data-values"
            )
        )
        assert latency
        assert all(v >= 0 for v in latency)

        failed = page.locator('#problems li[data-kind="failed_event"]')
        assert await failed.count() == 1
        assert "evt_poison_1" in await failed.inner_text()
        assert await failed.locator("code").inner_text() == "python -m ops events replay evt_poison_1"
        assert await page.locator("#status").inner_text() == "1 open problem(s)"

        # a failure injected while the page is open appears after its next refresh
        await poison(app, "evt_poison_2")
        await app.eventually(
            lambda: len(app.rows("SELECT 1 FROM webhook_events WHERE status = 'failed'")) == 2
        )
        async with page.expect_response(lambda r: "format=json" in r.url) as refreshed:
            pass
        assert (await refreshed.value).ok
        await page.locator('#problems li[data-kind="failed_event"]').nth(1).wait_for()
        assert "evt_poison_2" in await page.locator("#problems").inner_text()

    assert errors == []
    refreshes = [url for url in requests if "format=json" in url]
    assert refreshes
    assert all(f"code={KEY}" in url for url in refreshes)
    assert all(url.startswith(app.base_url) for url in requests)  # no CDN, nothing elsewhere


async def test_metrics_answer_json_and_prometheus_text(running_app):
    app = running_app
    assert (await post(app, ev.profile_event(ev.candidate()))).status_code == 202
    await app.eventually(lambda: app.rows("SELECT 1 FROM webhook_events"))
    answer = await app.http.get("/api/health/metrics")
    assert answer.status_code == 200
    body = answer.json()
    assert body["deliveries"]["5m"]["accepted"] == 1
    assert body["events"]["5m"]["processed"] == 1
    text = await app.http.get("/api/health/metrics", params={"format": "prometheus"})
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'portal_events{outcome="processed",window="5m"} 1' in text.text


def test_metrics_and_dashboard_need_a_function_key_and_the_probes_do_not():
    from tests.support.function_app import fresh_app

    levels = {}
    for function in fresh_app().get_functions():
        trigger = function.get_trigger()
        route = getattr(trigger, "route", None)
        if route:
            levels[route] = str(getattr(trigger, "auth_level", None))
    assert levels["health/metrics"].endswith("FUNCTION")
    assert levels["health/dashboard"].endswith("FUNCTION")
    assert levels["health"].endswith("ANONYMOUS")
    assert levels["health/ready"].endswith("ANONYMOUS")


async def test_an_hour_of_traffic_is_drawn_minute_by_minute(
    running_app, tmp_path, redis_client, redis_prefix
):
    """Seeded per minute over the last hour (Redis buckets as the receiver writes them, rows as the
    processor writes them): each chart point is that minute's figure."""
    app = running_app
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    expected: dict[str, dict[str, float]] = {}
    rows: list[tuple[Any, ...]] = []
    for back in range(1, 60):
        minute = now - timedelta(minutes=back)
        accepted, refused = 20 + (back * 7) % 13, back % 4
        counts = MinuteCounts(redis_client, redis_prefix, clock=fixed(minute.timestamp() + 30))
        counts.record("deliveries_accepted", accepted, {"type": "candidate.created"})
        counts.record(
            "deliveries_rejected", refused, {"endpoint": "webhooks", "status": "401", "reason": "x"}
        )
        await counts.flush()
        processed, failed = accepted - back % 3, back % 3
        latencies = [0.2 + 0.05 * ((back + n) % 9) for n in range(processed)]
        for n, latency in enumerate(latencies):
            done = minute + timedelta(seconds=5 + n % 50)
            rows.append((f"evt_seed_{back}_{n}", "processed", None, done - timedelta(seconds=latency), done))
        for n in range(failed):
            done = minute + timedelta(seconds=20)
            rows.append(
                (
                    f"evt_seed_{back}_f{n}",
                    "failed",
                    "event data failed validation: candidate.email",
                    done,
                    done,
                )
            )
        expected[minute.isoformat()] = {
            "accepted": accepted,
            "rejected": refused,
            # the metrics round the rate to 4 places, the page draws it in % to one (half up)
            "success rate": math.floor(round(processed / (processed + failed), 4) * 1000 + 0.5) / 10,
            "p50": round(percentile_cont(latencies, 0.5), 3),
        }
    with psycopg.connect(app.database_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO webhook_events (event_type, event_id, payload, processed, status, last_error, "
            "received_at, processed_at) "
            "VALUES ('candidate.created', %s, '{}', %s = 'processed', %s, %s, %s, %s)",
            [
                (event_id, status, status, reason, received, done)
                for event_id, status, reason, received, done in rows
            ],
        )

    async with chromium(tmp_path / "profile") as browser:
        page = await browser.new_page()
        response = await page.goto(f"{app.base_url}/api/health/dashboard")
        assert response is not None
        assert response.ok

        async def drawn(chart: str, series: str) -> dict[str, float]:
            svg = page.locator(f'[data-chart="{chart}"]')
            minutes = (await svg.get_attribute("data-minutes") or "").split(",")
            raw = (await svg.locator(f'[data-series="{series}"]').get_attribute("data-values") or "").split(
                ","
            )
            return {minute: float(value) for minute, value in zip(minutes, raw, strict=True) if value}

        drawn_accepted = await drawn("chart-deliveries", "accepted")
        drawn_rejected = await drawn("chart-deliveries", "rejected")
        drawn_success = await drawn("chart-success", "success rate")
        drawn_p50 = await drawn("chart-latency", "p50")
        for label, figures in expected.items():
            if label not in drawn_accepted:  # the page's hour may have moved on by one minute
                continue
            assert drawn_accepted[label] == figures["accepted"], label
            assert drawn_rejected[label] == figures["rejected"], label
            assert drawn_success[label] == figures["success rate"], label
            assert drawn_p50[label] == pytest.approx(figures["p50"], abs=0.0011), label
        assert len([label for label in expected if label in drawn_accepted]) >= 58
        if target := os.environ.get("DASHBOARD_SCREENSHOT"):  # docs/dashboard.png is made this way
            await page.screenshot(path=target, full_page=True)
