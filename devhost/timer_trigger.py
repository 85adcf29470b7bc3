"""Timer triggers on 6-field NCRONTAB schedules (seconds first), never overlapping themselves.

Schedules are evaluated in UTC, as the host does unless ``WEBSITE_TIME_ZONE`` is set. A
TimeSpan schedule (``hh:mm:ss``) runs at that interval. ``run_on_startup`` runs once at start.
If a run is still going when the next tick comes, that tick is skipped (and logged): a timer
never runs twice at once. ``past_due`` is true when a tick fires more than a second late (the
host sets it after missed occurrences; devhost keeps no schedule status across restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from croniter import croniter

from devhost.bindings import timer_request
from devhost.discovery import TimerFunction
from devhost.host_config import parse_timespan
from devhost.invoke import Invoker, log_invocation

log = logging.getLogger("devhost.timer")

PAST_DUE_AFTER = timedelta(seconds=1)


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """The first occurrence strictly after ``after`` (UTC)."""
    if ":" in schedule:
        return after + parse_timespan(schedule, where="schedule")
    result: datetime = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    return result


class TimerTrigger:
    """Runs one timer function on its schedule until :meth:`stop`."""

    def __init__(
        self, function: TimerFunction, invoker: Invoker, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.function = function
        self.invoker = invoker
        self.clock = clock or (lambda: datetime.now(UTC))
        self._stop = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._running: asyncio.Task[None] | None = None

    def describe(self) -> str:
        startup = " run_on_startup" if self.function.run_on_startup else ""
        return f"timerTrigger schedule='{self.function.schedule}'{startup}"

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name=f"timer:{self.function.target.name}")

    async def stop(self, grace: float) -> None:
        self._stop.set()
        if self._loop is not None:
            await self._loop
        if self._running is not None and not self._running.done():
            _, pending = await asyncio.wait([self._running], timeout=grace)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        previous = self.clock()
        if self.function.run_on_startup:
            self._fire(None, previous, False)
        while not self._stop.is_set():
            due = next_occurrence(self.function.schedule, max(previous, self.clock()))
            delay = (due - self.clock()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                if self._stop.is_set():
                    return
            previous = due
            if self._running is not None and not self._running.done():
                log.info(
                    "Timer '%s': tick at %s skipped, the previous run is still going",
                    self.function.target.name,
                    due.isoformat(),
                )
                continue
            self._fire(due, next_occurrence(self.function.schedule, due), self.clock() - due > PAST_DUE_AFTER)

    def _fire(self, scheduled: datetime | None, next_run: datetime | None, past_due: bool) -> None:
        self._running = asyncio.create_task(self._invoke(scheduled, next_run, past_due))

    async def _invoke(self, scheduled: datetime | None, next_run: datetime | None, past_due: bool) -> None:
        target = self.function.target
        started = time.perf_counter()
        try:
            await self.invoker.call(target, timer_request(past_due, scheduled, next_run))
        except Exception:
            log.exception("Function '%s' raised", target.name)
            log_invocation(target, "timerTrigger", started, "Failed")
            return
        # A timer every second would write a line a second and bury everything else: its
        # successful runs are DEBUG (the function logs what it did); failures stay at INFO.
        log_invocation(
            target,
            "timerTrigger",
            started,
            "Succeeded",
            "past_due=true" if past_due else "",
            level=logging.DEBUG,
        )
