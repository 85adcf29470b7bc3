"""Queue- and timer-triggered functions whose behaviour and observations a test controls."""

from __future__ import annotations

import asyncio
import threading
import time
import typing
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

QUEUE = "%WORK_QUEUE%"  # resolved from the settings, as the host does
CONNECTION = "ServiceBusConnection"


@dataclass
class Recorder:
    """What the functions saw, and how they behave (sleep, fail for the first N deliveries)."""

    sleep: float = 0.0
    fail_first: int = 0  # raise while delivery_count <= fail_first
    always_fail: bool = False
    seen: list[Any] = field(default_factory=list)
    batches: list[list[Any]] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)
    running: int = 0
    max_running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self) -> None:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.started_at.append(time.monotonic())

    def leave(self) -> None:
        with self._lock:
            self.running -= 1

    def should_fail(self, delivery_count: int) -> bool:
        return self.always_fail or delivery_count <= self.fail_first


def build(
    recorder: Recorder, *, many: bool = False, sync: bool = False, as_text: bool = False
) -> func.FunctionApp:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]
    cardinality = func.Cardinality.MANY if many else func.Cardinality.ONE

    if many:

        @bp.service_bus_queue_trigger(
            arg_name="msgs", queue_name=QUEUE, connection=CONNECTION, cardinality=cardinality
        )
        async def work_batch(msgs: typing.List[func.ServiceBusMessage]) -> None:  # noqa: UP006 (Azure's worker refuses list[...])
            recorder.enter()
            try:
                recorder.batches.append([m.message_id for m in msgs])
                recorder.seen.extend(msgs)
                await asyncio.sleep(recorder.sleep)
                if any(recorder.should_fail(m.delivery_count or 0) for m in msgs):
                    raise ValueError("batch refused")
            finally:
                recorder.leave()

    elif sync:

        @bp.service_bus_queue_trigger(arg_name="msg", queue_name=QUEUE, connection=CONNECTION)
        def work_sync(msg: func.ServiceBusMessage) -> None:
            recorder.enter()
            try:
                recorder.seen.append(msg)
                time.sleep(recorder.sleep)
                if recorder.should_fail(msg.delivery_count or 0):
                    raise ValueError(f"refused delivery {msg.delivery_count}")
            finally:
                recorder.leave()

    elif as_text:

        @bp.service_bus_queue_trigger(arg_name="body", queue_name=QUEUE, connection=CONNECTION)
        async def work_text(body: str) -> None:
            recorder.seen.append(body)

    else:

        @bp.service_bus_queue_trigger(arg_name="msg", queue_name=QUEUE, connection=CONNECTION)
        async def work(msg: func.ServiceBusMessage) -> None:
            recorder.enter()
            try:
                recorder.seen.append(msg)
                await asyncio.sleep(recorder.sleep)
                if recorder.should_fail(msg.delivery_count or 0):
                    raise ValueError(f"refused delivery {msg.delivery_count}")
            finally:
                recorder.leave()

    app = func.FunctionApp()
    app.register_functions(bp)
    return app


def build_timer(
    recorder: Recorder, *, schedule: str = "%TICK%", run_on_startup: bool = True
) -> func.FunctionApp:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]

    @bp.timer_trigger(arg_name="timer", schedule=schedule, run_on_startup=run_on_startup)
    async def tick(timer: func.TimerRequest) -> None:
        recorder.enter()
        try:
            recorder.seen.append(timer.past_due)
            await asyncio.sleep(recorder.sleep)
            if recorder.always_fail:
                raise RuntimeError("tick failed")
        finally:
            recorder.leave()

    app = func.FunctionApp()
    app.register_functions(bp)
    return app
