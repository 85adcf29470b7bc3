"""Wake-ups for consumers of the PostgreSQL queues, so a sent message is taken in milliseconds.

Every send NOTIFYs the channel with the queue's name. One LISTEN connection per process sets
an :class:`asyncio.Event` per queue; consumers wait on it with a timeout, so polling remains
the fallback (for scheduled messages coming due, expired locks, or while the listening
connection is being re-established after a database restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from shared.messaging.pg_schema import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class QueueWakeups:
    """LISTENs on the queue channel and wakes the waiters of the queue named in each NOTIFY."""

    def __init__(self, url: str, *, reconnect_delay: float = 1.0) -> None:
        self._url = url
        self._reconnect_delay = reconnect_delay
        self._events: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def event(self, queue: str) -> asyncio.Event:
        return self._events.setdefault(queue, asyncio.Event())

    async def start(self, *, timeout: float = 5.0) -> None:
        """Start listening; returns once LISTEN is active (or ``timeout`` has passed)."""
        self._task = asyncio.create_task(self._run(), name="devhost-queue-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    async def wait(self, queue: str, timeout: float) -> None:
        """Return when ``queue`` got a message, or after ``timeout`` seconds."""
        event = self.event(queue)
        if timeout > 0 and not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._ready.set()
                    # Anything sent while we were not listening is found by the next poll.
                    for event in self._events.values():
                        event.set()
                    async for notify in conn.notifies():
                        self.event(notify.payload).set()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._ready.set()
                log.warning("queue listener lost its connection (%s); polling until it is back", exc)
                await asyncio.sleep(self._reconnect_delay)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
