"""Timer triggers: NCRONTAB with seconds, run_on_startup, never overlapping."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import pytest

from devhost.discovery import validate_schedule
from devhost.timer_trigger import next_occurrence
from shared.errors import ConfigurationError
from tests.devhost.apps.queue_app import Recorder, build_timer
from tests.devhost.waiting import eventually

pytestmark = pytest.mark.integration


def test_six_field_ncrontab_has_seconds_first() -> None:
    start = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert next_occurrence("*/15 * * * * *", start) == datetime(2030, 1, 1, 12, 0, 15, tzinfo=UTC)
    assert next_occurrence("0 */5 * * * *", start) == datetime(2030, 1, 1, 12, 5, 0, tzinfo=UTC)
    assert next_occurrence("00:00:30", start) == datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["* * * * *", "not a schedule", "61 * * * * *", "00:00:00"])
def test_a_bad_schedule_stops_the_start(schedule) -> None:
    with pytest.raises(ConfigurationError, match="schedule"):
        validate_schedule(schedule, where="function 'tick' schedule")


async def test_runs_on_startup_then_every_tick_and_never_overlaps(run_host, caplog) -> None:
    recorder = Recorder(sleep=1.3)  # longer than the 1 s period: every other tick is skipped
    started = time.monotonic()
    async with run_host(build_timer(recorder), {"TICK": "* * * * * *"}):
        await eventually(lambda: len(recorder.seen) == 1, timeout=1)
        assert recorder.started_at[0] - started < 0.3  # run_on_startup
        await asyncio.sleep(3.2)
        assert recorder.max_running == 1
    assert recorder.max_running == 1
    assert 2 <= len(recorder.seen) <= 3
    assert "skipped, the previous run is still going" in caplog.text
    assert recorder.seen[0] is False  # past_due


async def test_without_run_on_startup_it_waits_for_the_schedule(run_host) -> None:
    recorder = Recorder()
    async with run_host(build_timer(recorder, schedule="*/1 * * * * *", run_on_startup=False), {}):
        await asyncio.sleep(0.05)
        assert recorder.seen == []
        await eventually(lambda: len(recorder.seen) >= 2, timeout=2.5)
    gaps = [b - a for a, b in zip(recorder.started_at, recorder.started_at[1:], strict=False)]
    assert all(0.8 < gap < 1.2 for gap in gaps)


async def test_a_timers_successful_runs_log_at_debug_and_its_failures_at_info(run_host, caplog) -> None:
    # A timer every second (the sync_queue replay) must not write a line a second at INFO.
    caplog.set_level(logging.DEBUG, logger="devhost")
    succeeding = Recorder()
    async with run_host(build_timer(succeeding), {"TICK": "* * * * * *"}):
        await eventually(lambda: len(succeeding.seen) >= 2, timeout=3)
    executed = [r for r in caplog.records if r.getMessage().startswith("Executed 'Functions.tick'")]
    assert executed
    assert all(r.levelno == logging.DEBUG for r in executed)
    assert all("(Succeeded, trigger=timerTrigger" in r.getMessage() for r in executed)

    caplog.clear()
    failing = Recorder(always_fail=True)
    async with run_host(build_timer(failing), {"TICK": "* * * * * *"}):
        await eventually(lambda: len(failing.seen) >= 1, timeout=3)
        await asyncio.sleep(0.1)
    failed = [r for r in caplog.records if r.getMessage().startswith("Executed 'Functions.tick' (Failed")]
    assert failed
    assert all(r.levelno == logging.INFO for r in failed)
    assert any(r.levelno == logging.ERROR and "raised" in r.getMessage() for r in caplog.records)
