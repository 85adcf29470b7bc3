"""Alerts an operator must see, through one call: ``raise_alert(kind, key, text)`` (DESIGN.md).

* ``kind`` names the condition (``portal_circuit_open``, ``event_parked``, ...): a short,
  fixed word, also the metric label;
* ``key`` names its cause, so that one outage is one incident however many events it touches
  (``portal``, a queue name, a command id);
* ``text`` carries ids and reasons, never personal data.

The call never raises and never blocks the flow that calls it: the alert is counted and logged
at ERROR at once (so it exists even when every channel is down), and the post to
``ALERT_WEBHOOK_URL`` runs in the background with a short timeout. A post that fails is logged
as a warning; the log line above is the alert of record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import httpx

from shared import metrics

log = logging.getLogger(__name__)

POST_TIMEOUT_SECONDS = 5.0


class AlertSink(Protocol):
    """What flows call; :class:`Alerter` is the one implementation the runtime builds."""

    async def raise_alert(self, kind: str, key: str, text: str) -> None: ...


class Alerter:
    def __init__(self, webhook_url: str | None, client: httpx.AsyncClient | None = None) -> None:
        self._url = webhook_url
        self._client = client
        self._posts: set[asyncio.Task[None]] = set()

    async def raise_alert(self, kind: str, key: str, text: str) -> None:
        """Count, log and (in the background) post one alert; never raises."""
        try:
            metrics.increment("alerts_raised", kind=kind)
            log.error("ALERT %s [%s]: %s", kind, key, text)
            if self._url:
                task = asyncio.create_task(self._post(kind, key, text))
                self._posts.add(task)
                task.add_done_callback(self._posts.discard)
        except Exception:  # an alert must never break the flow that raises it
            log.exception("could not raise alert %s", kind)

    async def _post(self, kind: str, key: str, text: str) -> None:
        assert self._url is not None
        payload = {"text": f"[portal-integration] {kind} ({key}): {text}"}
        try:
            if self._client is None:
                async with httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS) as client:
                    await client.post(self._url, json=payload)
            else:
                await self._client.post(self._url, json=payload, timeout=POST_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            log.warning("alert webhook unreachable (%s); the alert is in the log above", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the posts still in flight (bounded by their timeout): at shutdown, in tests."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._posts, return_exceptions=True)
