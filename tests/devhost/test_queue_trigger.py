"""Service Bus triggers fed from the PostgreSQL queues (in-process host, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.messaging import OutboundMessage
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.pg_receiver import MAX_DELIVERY_COUNT_EXCEEDED, PgQueueReceiver
from tests.devhost.apps.queue_app import Recorder, build
from tests.devhost.waiting import eventually

pytestmark = pytest.mark.integration

QUEUE = "work-items"


@pytest.fixture
def environ(database_url):
    return {"ServiceBusConnection": database_url, "WORK_QUEUE": QUEUE}


@pytest.fixture
async def queues(database_url):
    pool = QueuePool(database_url)
    yield PgQueueSender(pool), PgQueueReceiver(pool)
    await pool.close()


def write_host_json(tmp_path, **service_bus) -> None:
    document = {"version": "2.0", "extensions": {"serviceBus": service_bus}}
    (tmp_path / "host.json").write_text(json.dumps(document))


def msg(message_id: str, **kwargs) -> OutboundMessage:
    return OutboundMessage(body=json.dumps({"id": message_id}).encode(), message_id=message_id, **kwargs)


async def queue_empty(receiver: PgQueueReceiver) -> bool:
    return await receiver.next_visible_at(QUEUE) is None


async def test_message_reaches_the_function_as_a_service_bus_message_and_is_completed(
    run_host, environ, queues
) -> None:
    sender, receiver = queues
    recorder = Recorder()
    async with run_host(build(recorder), environ):
        sent = time.monotonic()
        await sender.send(QUEUE, [msg("m-1", application_properties={"attempt": 2, "kind": "x"})])
        await eventually(lambda: len(recorder.seen) == 1)
        latency = recorder.started_at[0] - sent
        await eventually(lambda: queue_empty(receiver))
    [got] = recorder.seen
    assert latency < 0.25  # NOTIFY, not the poll interval
    assert got.message_id == "m-1"
    assert json.loads(got.get_body()) == {"id": "m-1"}
    assert got.application_properties == {"attempt": 2, "kind": "x"}
    assert got.user_properties == {"attempt": 2, "kind": "x"}
    assert got.delivery_count == 1
    assert got.content_type == "application/json"
    assert got.lock_token
    assert got.sequence_number > 0
    assert got.enqueued_time_utc <= datetime.now(UTC)


async def test_exception_abandons_and_the_message_is_redelivered_with_a_higher_count(
    run_host, environ, queues, caplog
) -> None:
    sender, receiver = queues
    recorder = Recorder(fail_first=2)
    async with run_host(build(recorder), environ):
        await sender.send(QUEUE, [msg("m-1")])
        await eventually(lambda: len(recorder.seen) == 3)
        await eventually(lambda: queue_empty(receiver))
    assert [m.delivery_count for m in recorder.seen] == [1, 2, 3]
    assert "refused delivery 1" in caplog.text
    assert await receiver.dead_letters(QUEUE) == []


async def test_dead_lettered_after_max_delivery_count_with_reason_and_exception(
    run_host, environ, queues
) -> None:
    sender, receiver = queues
    recorder = Recorder(always_fail=True)
    async with run_host(build(recorder), environ, max_delivery_count=3):
        await sender.send(QUEUE, [msg("poison")])
        await eventually(lambda: receiver.dead_letters(QUEUE))
    assert [m.delivery_count for m in recorder.seen] == [1, 2, 3]
    [dead] = await receiver.dead_letters(QUEUE)
    assert dead.message_id == "poison"
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.dead_letter_description == "ValueError: refused delivery 3"
    assert dead.delivery_count == 3
    assert await queue_empty(receiver)


async def test_lock_renewal_keeps_a_slow_message_from_a_second_consumer(run_host, environ, queues) -> None:
    sender, receiver = queues
    recorder = Recorder(sleep=2.0)
    async with run_host(build(recorder), environ, lock_duration=timedelta(seconds=0.6)):
        await sender.send(QUEUE, [msg("slow")])
        await eventually(lambda: recorder.running == 1)
        stolen = []
        while recorder.running:  # a competing consumer polls for the whole invocation
            stolen += await receiver.receive(QUEUE, 1, timedelta(seconds=30))
            await asyncio.sleep(0.05)
        await eventually(lambda: queue_empty(receiver))
    assert stolen == []
    assert [m.delivery_count for m in recorder.seen] == [1]


async def test_max_concurrent_calls_from_host_json_is_respected(run_host, environ, queues, tmp_path) -> None:
    write_host_json(tmp_path, maxConcurrentCalls=3)
    sender, receiver = queues
    recorder = Recorder(sleep=0.2)
    await sender.send(QUEUE, [msg(f"m-{i}") for i in range(12)])
    async with run_host(build(recorder), environ):
        await eventually(lambda: len(recorder.seen) == 12)
        await eventually(lambda: queue_empty(receiver))
    assert recorder.max_running == 3


async def test_old_message_handler_options_form_is_read(run_host, environ, queues, tmp_path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps({"extensions": {"serviceBus": {"messageHandlerOptions": {"maxConcurrentCalls": 2}}}})
    )
    sender, _ = queues
    recorder = Recorder(sleep=0.15)
    await sender.send(QUEUE, [msg(f"m-{i}") for i in range(6)])
    async with run_host(build(recorder, sync=True), environ):  # sync functions run in threads
        await eventually(lambda: len(recorder.seen) == 6)
    assert recorder.max_running == 2


async def test_cardinality_many_gets_batches_up_to_max_message_batch_size(
    run_host, environ, queues, tmp_path
) -> None:
    write_host_json(tmp_path, maxMessageBatchSize=5)
    sender, receiver = queues
    recorder = Recorder(sleep=0.05)
    await sender.send(QUEUE, [msg(f"m-{i:02}") for i in range(12)])
    async with run_host(build(recorder, many=True), environ):
        await eventually(lambda: sum(len(b) for b in recorder.batches) == 12)
        await eventually(lambda: queue_empty(receiver))
    assert [len(b) for b in recorder.batches] == [5, 5, 2]
    assert sorted(m for b in recorder.batches for m in b) == [f"m-{i:02}" for i in range(12)]
    assert recorder.max_running == 1


async def test_a_failing_batch_is_abandoned_whole_and_redelivered(run_host, environ, queues) -> None:
    sender, receiver = queues
    recorder = Recorder(fail_first=1)
    await sender.send(QUEUE, [msg("a"), msg("b")])
    async with run_host(build(recorder, many=True), environ):
        await eventually(lambda: len(recorder.batches) == 2)
        await eventually(lambda: queue_empty(receiver))
    assert [sorted(b) for b in recorder.batches] == [["a", "b"], ["a", "b"]]
    assert [m.delivery_count for m in recorder.seen] == [1, 1, 2, 2]


async def test_scheduled_message_runs_when_due_not_before(run_host, environ, queues) -> None:
    sender, _ = queues
    recorder = Recorder()
    async with run_host(build(recorder), environ, poll_interval=5.0):
        due = datetime.now(UTC) + timedelta(seconds=0.8)
        await sender.send(QUEUE, [msg("later", scheduled_enqueue_time=due)])
        await eventually(lambda: len(recorder.seen) == 1)
        ran_at = datetime.now(UTC)
    assert ran_at >= due
    assert (ran_at - due).total_seconds() < 0.4  # woke for the due time, not the 5 s poll
    assert recorder.seen[0].scheduled_enqueue_time_utc == due


async def test_str_annotation_gets_the_body_as_text(run_host, environ, queues) -> None:
    sender, _ = queues
    recorder = Recorder()
    async with run_host(build(recorder, as_text=True), environ):
        await sender.send(QUEUE, [msg("t")])
        await eventually(lambda: len(recorder.seen) == 1)
    assert recorder.seen == ['{"id": "t"}']


async def test_shutdown_abandons_unfinished_work_so_nothing_is_lost(run_host, environ, queues) -> None:
    sender, receiver = queues
    recorder = Recorder(sleep=30)
    async with run_host(build(recorder), environ, shutdown_grace=0.3, lock_duration=timedelta(seconds=30)):
        await sender.send(QUEUE, [msg("long")])
        await eventually(lambda: recorder.running == 1)
    # Abandoned, not left locked for 30 s: it is visible again at once.
    [again] = await receiver.receive(QUEUE, 1, timedelta(seconds=30))
    assert again.message_id == "long"
    assert again.delivery_count == 2


async def test_shutdown_lets_running_invocations_finish_within_the_grace(run_host, environ, queues) -> None:
    sender, receiver = queues
    recorder = Recorder(sleep=0.5)
    async with run_host(build(recorder), environ, shutdown_grace=5):
        await sender.send(QUEUE, [msg("short")])
        await eventually(lambda: recorder.running == 1)
    assert recorder.running == 0
    assert await queue_empty(receiver)


async def test_invocation_log_line_names_function_trigger_and_outcome_but_not_the_body(
    run_host, environ, queues, caplog
) -> None:
    sender, _ = queues
    recorder = Recorder()
    async with run_host(build(recorder), environ):
        await sender.send(QUEUE, [OutboundMessage(body=b"very-private-body", message_id="m-9")])
        await eventually(lambda: len(recorder.seen) == 1)
        await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "devhost.invocations"]
    assert len(lines) == 1
    assert lines[0].startswith("Executed 'Functions.work' (Succeeded, trigger=serviceBusTrigger, Duration=")
    assert "message_id=m-9" in lines[0]
    assert "very-private-body" not in caplog.text
