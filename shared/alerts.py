"""Alerts an operator must see: logged at ERROR and, when configured, posted to Teams or Slack.

``ALERT_WEBHOOK_URL`` takes a Teams or Slack incoming-webhook URL; both accept a JSON body with
a ``text`` field. Posting is best effort with a short timeout: an alert channel that is down must
never stop the flow that raised the alert. Alert texts carry ids and reasons, never personal data.
"""

from __future__ import annotations

import logging

import httpx

from shared import metrics

log = logging.getLogger(__name__)


class Alerter:
    def __init__(self, webhook_url: str | None, client: httpx.AsyncClient | None = None) -> None:
        self._url = webhook_url
        self._client = client

    async def raise_alert(self, kind: str, text: str) -> None:
        metrics.increment("alerts_raised", kind=kind)
        log.error("ALERT %s: %s", kind, text)
        if not self._url:
            return
        try:
            if self._client is None:
                async with httpx.AsyncClient(timeout=5) as client:
                    await client.post(self._url, json={"text": f"[portal-integration] {kind}: {text}"})
            else:
                await self._client.post(
                    self._url, json={"text": f"[portal-integration] {kind}: {text}"}, timeout=5
                )
        except httpx.HTTPError as exc:
            log.warning("alert webhook unreachable (%s); the alert is in the log above", type(exc).__name__)
