"""Service Bus triggers fed from the PostgreSQL queues, with the extension's semantics.

For each queue-triggered function one loop receives with peek-lock and runs invocations:

* ``cardinality="one"``: up to ``maxConcurrentCalls`` invocations at once, one message each;
* ``cardinality="many"``: one batch of up to ``maxMessageBatchSize`` messages at a time.

While a function runs, its locks are renewed (every third of the lock duration, for at most
``maxAutoLockRenewalDuration``), so a slow invocation is not redelivered to someone else. On
success the messages are completed; on an exception they are abandoned (visible again at once,
``delivery_count`` + 1 on the next receive), and a message that has reached
``maxDeliveryCount`` is dead-lettered with reason ``MaxDeliveryCountExceeded`` and the exception
as description. On shutdown the loop stops receiving, running invocations get a grace period,
and whatever is still unfinished is abandoned, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devhost.bindings import queue_argument
from devhost.discovery import QueueFunction
from devhost.invoke import Invoker, log_invocation
from shared.errors import DependencyUnavailable
from shared.messaging.pg_listen import QueueWakeups
from shared.messaging.pg_receiver import MAX_DELIVERY_COUNT_EXCEEDED, PgQueueReceiver, ReceivedMessage

log = logging.getLogger("devhost.servicebus")

_DESCRIPTION_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """How the trigger behaves; host.json and the devhost command line fill it in."""

    lock_duration: timedelta = timedelta(seconds=60)
    max_delivery_count: int = 10
    max_concurrent_calls: int = 16
    max_message_batch_size: int = 1000
    max_auto_lock_renewal: timedelta = timedelta(minutes=5)
    poll_interval: float = 1.0


class QueueTrigger:
    """Receives from one queue and invokes one function until :meth:`stop`."""

    def __init__(
        self,
        function: QueueFunction,
        receiver: PgQueueReceiver,
        wakeups: QueueWakeups,
        invoker: Invoker,
        settings: QueueSettings,
    ) -> None:
        self.function = function
        self.receiver = receiver
        self.wakeups = wakeups
        self.invoker = invoker
        self.settings = settings
        self._inflight: dict[asyncio.Task[None], list[ReceivedMessage]] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None

    def stopping(self) -> bool:
        return self._stopping

    @property
    def capacity(self) -> int:
        return 1 if self.function.many else self.settings.max_concurrent_calls

    def describe(self) -> str:
        if self.function.many:
            limit = f"maxMessageBatchSize={self.settings.max_message_batch_size}"
        else:
            limit = f"maxConcurrentCalls={self.settings.max_concurrent_calls}"
        cardinality = "many" if self.function.many else "one"
        return f"serviceBusTrigger queue={self.function.queue} cardinality={cardinality} {limit}"

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name=f"queue:{self.function.target.name}")

    async def stop(self, grace: float) -> None:
        """Stop receiving; let invocations finish within ``grace`` s; abandon the rest."""
        self._stopping = True
        self.wakeups.event(self.function.queue).set()
        self._slot_freed.set()
        if self._loop is not None:
            await self._loop
        if not self._inflight:
            return
        _, pending = await asyncio.wait(list(self._inflight), timeout=grace)
        unfinished = [m for task in pending for m in self._inflight.get(task, [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if unfinished:
            with contextlib.suppress(DependencyUnavailable):
                released = await self.receiver.abandon(unfinished)
                log.warning(
                    "'%s': %d unfinished message(s) abandoned at shutdown; they will be redelivered",
                    self.function.target.name,
                    released,
                )

    async def _run(self) -> None:
        queue = self.function.queue
        while not self._stopping:
            free = self.capacity - len(self._inflight)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            limit = self.settings.max_message_batch_size if self.function.many else free
            try:
                messages = await self.receiver.receive(
                    queue,
                    limit,
                    self.settings.lock_duration,
                    max_delivery_count=self.settings.max_delivery_count,
                )
            except DependencyUnavailable as exc:
                log.warning("receiving from %r failed (%s); retrying", queue, exc)
                await self.wakeups.wait(queue, self.settings.poll_interval)
                continue
            if self.stopping():  # stop() came while we were receiving
                if messages:
                    await self.receiver.abandon(messages)
                return
            if not messages:
                await self._idle()
            elif self.function.many:
                self._spawn(messages)
            else:
                for message in messages:
                    self._spawn([message])

    async def _idle(self) -> None:
        """Wait for a NOTIFY, the next scheduled message coming due, or the poll interval."""
        timeout = self.settings.poll_interval
        with contextlib.suppress(DependencyUnavailable):
            due = await self.receiver.next_visible_at(self.function.queue)
            if due is not None:
                timeout = min(timeout, max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.005)
        await self.wakeups.wait(self.function.queue, timeout)

    def _spawn(self, messages: list[ReceivedMessage]) -> None:
        task = asyncio.create_task(self._invoke(messages))
        self._inflight[task] = messages
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._slot_freed.set()

    async def _invoke(self, messages: list[ReceivedMessage]) -> None:
        target = self.function.target
        started = time.perf_counter()
        renewer = asyncio.create_task(self._renew(messages))
        detail = (
            f"messages={len(messages)}"
            if self.function.many
            else f"message_id={messages[0].message_id}, delivery_count={messages[0].delivery_count}"
        )
        try:
            if self.function.many:
                argument: object = [queue_argument(m, target.arg_kind) for m in messages]
            else:
                argument = queue_argument(messages[0], target.arg_kind)
            await self.invoker.call(target, argument)
        except Exception as exc:
            renewer.cancel()
            log.exception("Function '%s' raised (%s)", target.name, detail)
            log_invocation(target, "serviceBusTrigger", started, "Failed", detail)
            await self._settle_failure(messages, exc)
            return
        finally:
            renewer.cancel()
        log_invocation(target, "serviceBusTrigger", started, "Succeeded", detail)
        try:
            completed = await self.receiver.complete(messages)
        except DependencyUnavailable as exc:
            log.warning("'%s': completing failed (%s); the messages will be redelivered", target.name, exc)
            return
        if completed < len(messages):
            log.warning(
                "'%s': %d message lock(s) were lost before completion; they will be redelivered",
                target.name,
                len(messages) - completed,
            )

    async def _settle_failure(self, messages: list[ReceivedMessage], exc: Exception) -> None:
        limit = self.settings.max_delivery_count
        spent = [m for m in messages if m.delivery_count >= limit]
        retry = [m for m in messages if m.delivery_count < limit]
        description = f"{type(exc).__name__}: {exc}"[:_DESCRIPTION_LIMIT]
        try:
            if spent:
                await self.receiver.dead_letter(spent, MAX_DELIVERY_COUNT_EXCEEDED, description)
                log.warning(
                    "'%s': %d message(s) dead-lettered after %d deliveries (%s)",
                    self.function.target.name,
                    len(spent),
                    limit,
                    MAX_DELIVERY_COUNT_EXCEEDED,
                )
            if retry:
                await self.receiver.abandon(retry)
        except DependencyUnavailable as error:
            log.warning("settling failed messages failed (%s); their locks will expire", error)

    async def _renew(self, messages: list[ReceivedMessage]) -> None:
        lock = self.settings.lock_duration
        interval = max(0.05, lock.total_seconds() / 3)
        deadline = time.monotonic() + self.settings.max_auto_lock_renewal.total_seconds()
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() + interval > deadline + lock.total_seconds():
                return
            try:
                held = await self.receiver.renew_locks(messages, lock)
            except DependencyUnavailable as exc:
                log.warning("lock renewal failed (%s); retrying", exc)
                continue
            if held < len(messages):
                log.warning(
                    "'%s': %d lock(s) lost while running", self.function.target.name, len(messages) - held
                )
