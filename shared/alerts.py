"""Alerts an operator must see, through one call: ``raise_alert(kind, key, text)`` (DESIGN.md).

* ``kind`` names the condition (``portal_circuit_open``, ``event_parked``, ...): a short,
  fixed word, also the metric label;
* ``key`` names its cause, so that one outage is one incident however many events it touches
  (``portal``, a queue name, a command id);
* ``text`` carries ids and reasons, never personal data.

The call never raises and never blocks the flow that calls it: the alert is counted and logged
at ERROR at once (so it exists even when every channel is down); the rest runs in the
background:

1. **De-duplication** in Redis, shared by every instance (:class:`RedisDedupe`): the first
   occurrence of (kind, key) opens an incident and is posted; repeats are only counted. An
   incident still occurring after ``ALERT_REMIND_HOURS`` is posted again, as a reminder.
2. **State** in PostgreSQL (``alerts``: kind, key, first and last seen, count, resolved at):
   what ``ops alerts list`` and the dashboard show.
3. **The post** to ``ALERT_WEBHOOK_URL``, as a Teams Adaptive Card or Slack text
   (``ALERT_FORMAT``, :mod:`shared.health.alert_posts`). A post that fails is retried by the
   health timer (:meth:`Alerter.retry_posts`, every minute, backing off to hourly), never by
   sleeping here.

Without PostgreSQL the alert is still de-duplicated in Redis and posted, and a failed post waits
in Redis for the timer; without Redis PostgreSQL's row decides (a new row is a new incident);
without both, each worker posts the first occurrence it sees (:class:`MemoryDedupe`).

:meth:`Alerter.resolve` closes an incident and posts the resolution. Which kinds resolve
themselves, and how, is :mod:`shared.health.conditions` (the health timer checks every minute);
any alert can be closed by hand with ``python -m ops alerts resolve KIND KEY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx

from shared import metrics
from shared.health.alert_posts import (
    POST_TIMEOUT_SECONDS,
    AlertFormat,
    AlertPost,
    AlertPoster,
    Phase,
    PostFailed,
)
from shared.health.alert_state import POST_MAX_ATTEMPTS, AlertRow, AlertStore, MemoryDedupe, RedisDedupe

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]

DEFAULT_REMIND_AFTER = timedelta(hours=24)
#: How much older than this occurrence an incident's row must be for a first post to be a reminder.
REMINDER_SLACK = timedelta(minutes=1)


class AlertSink(Protocol):
    """What flows call; :class:`Alerter` is the one implementation the runtime builds."""

    async def raise_alert(self, kind: str, key: str, text: str) -> None: ...


class Alerter:
    def __init__(
        self,
        webhook_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        alert_format: AlertFormat | str = AlertFormat.AUTO,
        store: AlertStore | None = None,
        dedupe: RedisDedupe | None = None,
        remind_after: timedelta = DEFAULT_REMIND_AFTER,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._own_client = client is None and webhook_url is not None
        if webhook_url is not None and client is None:
            client = httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)
        self._client = client
        self._poster = AlertPoster(webhook_url, alert_format, client) if webhook_url and client else None
        self._store = store
        self._dedupe = dedupe
        self._memory = MemoryDedupe(remind_after)
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    # --- raising ----------------------------------------------------------------------------

    async def raise_alert(self, kind: str, key: str, text: str) -> None:
        """Count and log at once; de-duplicate, record and post in the background. Never raises."""
        try:
            metrics.increment("alerts_raised", kind=kind)
            log.error("ALERT %s [%s]: %s", kind, key, text)
            task = asyncio.create_task(self._occurred(kind, key, text, self._clock()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        except Exception:  # an alert must never break the flow that raises it
            log.exception("could not raise alert %s", kind)

    async def _occurred(self, kind: str, key: str, text: str, now: datetime) -> None:
        try:
            occurrence = (
                await self._try("Redis", self._dedupe.occur(kind, key, now)) if self._dedupe else None
            )
            recorded = None
            if self._store is not None:
                # A repeat by Redis' count was posted by its first occurrence, even if PostgreSQL,
                # down then, is only now seeing the incident.
                repeat = occurrence is not None and occurrence > 1
                recorded = await self._try(
                    "PostgreSQL", self._store.record(kind, key, text, now, notified=repeat)
                )
            if occurrence is not None:
                first = occurrence == 1
            elif recorded is not None:
                first = recorded.inserted
            else:
                first = self._memory.first(kind, key)
            if not first:
                return
            row = recorded.row if recorded else None
            # A reminder when the incident's row is older than this (expired) Redis mark; not
            # merely "not inserted": a concurrent repeat may have written the row first.
            phase: Phase = (
                "reminder" if row is not None and row.first_seen < now - REMINDER_SLACK else "opened"
            )
            post = AlertPost(
                phase,
                kind,
                key,
                text,
                count=row.count if row else 1,
                first_seen=row.first_seen if row else now,
            )
            await self._deliver(post, row, now)
        except Exception:  # background work: log, never let it vanish silently
            log.exception("handling alert %s failed", kind)

    # --- resolving ----------------------------------------------------------------------------

    async def resolve(self, kind: str, key: str, *, by: str) -> bool:
        """Close the open incident (kind, key) and post its resolution; True if one was open.

        Never raises: with a store down, what the other one knows decides.
        """
        now = self._clock()
        cleared = await self._try("Redis", self._dedupe.clear(kind, key)) if self._dedupe else None
        in_memory = self._memory.clear(kind, key)
        row = await self._try("PostgreSQL", self._store.resolve(kind, key, by, now)) if self._store else None
        if row is None and not cleared and not (in_memory and cleared is None):
            return False
        log.info("RESOLVED %s [%s]: %s", kind, key, by)
        metrics.increment("alerts_resolved", kind=kind)
        post = AlertPost(
            "resolved",
            kind,
            key,
            row.last_text if row else f"{kind} ({key}) no longer holds",
            count=row.count if row else 1,
            first_seen=row.first_seen if row else None,
            resolved_by=by,
        )
        await self._deliver(post, row, now)
        return True

    # --- posting ------------------------------------------------------------------------------

    async def _deliver(self, post: AlertPost, row: AlertRow | None, now: datetime) -> None:
        if self._poster is None:
            return  # no channel: the log line is the alert
        try:
            await self._poster.post(post)
        except PostFailed as exc:
            metrics.increment("alert_posts_failed", kind=post.kind)
            log.warning(
                "alert %s (%s) not posted (%s); the health timer will retry", post.kind, post.phase, exc
            )
            await self._keep_for_retry(post, row, str(exc), now)
            return
        metrics.increment("alerts_posted", kind=post.kind, phase=post.phase)
        if row is not None and self._store is not None:
            await self._done("PostgreSQL", self._store.mark_posted(row.id, post.phase, now))

    async def _keep_for_retry(self, post: AlertPost, row: AlertRow | None, error: str, now: datetime) -> None:
        if (
            row is not None
            and self._store is not None
            and await self._done(
                "PostgreSQL", self._store.mark_post_failed(row.id, error, now, row.post_attempts)
            )
        ):
            return
        if self._dedupe is not None:
            entry = {"post": _post_json(post), "attempts": 1}
            if await self._done("Redis", self._dedupe.keep_unsent(entry)):
                return
        if self._store is None and self._dedupe is None:
            return  # no state configured (a tool, a unit test): the ERROR line is the alert
        log.error(
            "alert %s (%s) could not be kept for a retry: the ERROR line above is its record",
            post.kind,
            post.key,
        )

    async def retry_posts(self) -> int:
        """Post again what failed before (the health timer, every minute); returns how many went out."""
        if self._poster is None:
            return 0
        now = self._clock()
        sent = 0
        rows = await self._try("PostgreSQL", self._store.claim_due_posts(now)) if self._store else None
        for row in rows or []:
            post = AlertPost(
                "resolved" if row.resolved_at else "opened",
                row.kind,
                row.key,
                row.last_text,
                count=row.count,
                first_seen=row.first_seen,
                resolved_by=row.resolved_by,
            )
            try:
                await self._poster.post(post)
            except PostFailed as exc:
                assert self._store is not None
                await self._try(
                    "PostgreSQL", self._store.mark_post_failed(row.id, str(exc), now, row.post_attempts)
                )
                continue
            sent += 1
            metrics.increment("alerts_posted", kind=post.kind, phase=post.phase)
            assert self._store is not None
            await self._done("PostgreSQL", self._store.mark_posted(row.id, post.phase, now))
        entries = await self._try("Redis", self._dedupe.take_unsent(50)) if self._dedupe else None
        for entry in entries or []:
            post = _post_from_json(entry["post"])
            try:
                await self._poster.post(post)
            except PostFailed:
                if entry["attempts"] + 1 < POST_MAX_ATTEMPTS:
                    assert self._dedupe is not None
                    await self._try(
                        "Redis", self._dedupe.keep_unsent({**entry, "attempts": entry["attempts"] + 1})
                    )
                continue
            sent += 1
            metrics.increment("alerts_posted", kind=post.kind, phase=post.phase)
        return sent

    # --- plumbing -----------------------------------------------------------------------------

    async def _try(self, store: str, call: Awaitable[T]) -> T | None:
        """The call's result, or None (logged) if its store is down."""
        try:
            return await call
        except Exception as exc:
            log.warning("alert state: %s unavailable (%s)", store, type(exc).__name__)
            return None

    async def _done(self, store: str, call: Awaitable[object]) -> bool:
        """Whether the call succeeded (a store that is down is logged)."""
        try:
            await call
        except Exception as exc:
            log.warning("alert state: %s unavailable (%s)", store, type(exc).__name__)
            return False
        return True

    async def drain(self) -> None:
        """Wait for the background work still in flight (bounded by the stores' and post's timeouts)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        if self._own_client and self._client is not None:
            await self._client.aclose()


def _post_json(post: AlertPost) -> dict[str, Any]:
    data = asdict(post)
    data["first_seen"] = post.first_seen.isoformat() if post.first_seen else None
    return data


def _post_from_json(data: dict[str, Any]) -> AlertPost:
    first_seen = datetime.fromisoformat(data["first_seen"]) if data.get("first_seen") else None
    return AlertPost(**{**data, "first_seen": first_seen})
