"""The PostgreSQL queues keep the Service Bus rules the flows rely on (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from shared.errors import DependencyUnavailable, MessageTooLarge
from shared.messaging import MAX_MESSAGE_BYTES, OutboundMessage
from shared.messaging.pg_listen import QueueWakeups
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.pg_receiver import MAX_DELIVERY_COUNT_EXCEEDED, PgQueueReceiver
from shared.messaging.pg_schema import ensure_schema

pytestmark = pytest.mark.integration

LOCK = timedelta(seconds=30)


def msg(message_id: str, body: bytes = b"{}", **kwargs) -> OutboundMessage:
    return OutboundMessage(body=body, message_id=message_id, **kwargs)


async def test_confirmed_send_is_received_with_everything_it_carries(sender, receiver) -> None:
    await sender.send(
        "q",
        [
            msg(
                "m-1",
                b'{"a": 1}',
                application_properties={"attempt": 3, "kind": "x", "ratio": 0.5, "flag": True},
                content_type="application/json",
            )
        ],
    )
    [got] = await receiver.receive("q", 10, LOCK)
    assert got.body == b'{"a": 1}'
    assert got.message_id == "m-1"
    assert got.application_properties == {"attempt": 3, "kind": "x", "ratio": 0.5, "flag": True}
    assert got.content_type == "application/json"
    assert got.delivery_count == 1
    assert got.lock_token is not None
    assert got.locked_until is not None
    assert got.locked_until > datetime.now(UTC)
    assert await receiver.receive("q", 10, LOCK) == []  # locked: nobody else sees it
    assert await receiver.complete(got) == 1
    assert await receiver.next_visible_at("q") is None


async def test_send_is_committed_before_it_returns(sender, database_url) -> None:
    await sender.send("q", [msg("m-1")])
    # Another connection, outside the sender's pool, sees it at once.
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM devhost.messages WHERE queue = 'q'").fetchone()
    assert row == (1,)


async def test_queues_are_separate(sender, receiver) -> None:
    await sender.send("a", [msg("m-1")])
    assert await receiver.receive("b", 10, LOCK) == []
    assert len(await receiver.receive("a", 10, LOCK)) == 1


async def test_duplicate_message_id_is_accepted_and_dropped_within_the_window(queue_pool, receiver) -> None:
    sender = PgQueueSender(queue_pool, duplicate_window=timedelta(milliseconds=400))
    await sender.send("q", [msg("same", b"1")])
    await sender.send("q", [msg("same", b"2")])  # no error: accepted, dropped
    await sender.send("other-queue", [msg("same", b"3")])  # the window is per queue
    got = await receiver.receive("q", 10, LOCK)
    assert [m.body for m in got] == [b"1"]
    await receiver.complete(got)

    await asyncio.sleep(0.5)
    await sender.send("q", [msg("same", b"4")])  # after the window: accepted again
    assert [m.body for m in await receiver.receive("q", 10, LOCK)] == [b"4"]


async def test_default_duplicate_window_is_ten_minutes(sender, receiver, database_url) -> None:
    await sender.send("q", [msg("same")])
    with psycopg.connect(database_url) as conn:  # 9 minutes later: still a duplicate
        conn.execute("UPDATE devhost.message_ids SET sent_at = now() - interval '9 minutes'")
    await sender.send("q", [msg("same")])
    assert await receiver.next_visible_at("q") is not None
    assert len(await receiver.receive("q", 10, LOCK)) == 1
    with psycopg.connect(database_url) as conn:  # 10 minutes later: a new message
        conn.execute("UPDATE devhost.message_ids SET sent_at = now() - interval '10 minutes 1 second'")
    await sender.send("q", [msg("same")])
    assert len(await receiver.receive("q", 10, LOCK)) == 1


async def test_duplicates_inside_one_batch_are_dropped(sender, receiver) -> None:
    await sender.send("q", [msg("x", b"1"), msg("y", b"2"), msg("x", b"3")])
    got = await receiver.receive("q", 10, LOCK)
    assert [(m.message_id, m.body) for m in got] == [("x", b"1"), ("y", b"2")]


async def test_scheduled_message_is_invisible_until_due(sender, receiver) -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.6)
    await sender.send("q", [msg("later", scheduled_enqueue_time=due), msg("now")])
    assert [m.message_id for m in await receiver.receive("q", 10, LOCK)] == ["now"]
    next_at = await receiver.next_visible_at("q")
    assert next_at is not None
    assert abs((next_at - due).total_seconds()) < 0.01
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.05)
    [got] = await receiver.receive("q", 10, LOCK)
    assert got.message_id == "later"
    assert got.scheduled_enqueue_time == due


async def test_naive_scheduled_time_is_utc(sender, receiver) -> None:
    due = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    await sender.send("q", [msg("later", scheduled_enqueue_time=due)])
    assert await receiver.next_visible_at("q") == due.replace(tzinfo=UTC)


async def test_too_large_message_names_queue_id_and_size_and_sends_nothing(sender, receiver) -> None:
    big = msg("big-1", b"x" * (MAX_MESSAGE_BYTES - 10), application_properties={"key": "0123456789"})
    with pytest.raises(MessageTooLarge) as caught:
        await sender.send("q", [msg("small"), big])
    text = str(caught.value)
    assert "'q'" in text
    assert "'big-1'" in text
    assert str(MAX_MESSAGE_BYTES + 3) in text
    assert await receiver.receive("q", 10, LOCK) == []
    await sender.send("q", [msg("exact", b"x" * MAX_MESSAGE_BYTES)])  # the limit itself is fine
    assert len(await receiver.receive("q", 10, LOCK)) == 1


async def test_unreachable_database_is_dependency_unavailable() -> None:
    pool = QueuePool("postgresql://postgres@127.0.0.1:1/nothing", timeout=0.5)
    sender = PgQueueSender(pool)
    try:
        with pytest.raises(DependencyUnavailable, match=r"127\.0\.0\.1:1/nothing"):
            await sender.send("q", [msg("m")])
        with pytest.raises(DependencyUnavailable):
            await sender.ping()
    finally:
        await sender.close()
        await pool.close()


async def test_ping_answers_when_the_database_does(sender) -> None:
    await sender.ping()


async def test_abandon_makes_it_visible_again_and_delivery_count_increments(sender, receiver) -> None:
    await sender.send("q", [msg("m")])
    first = (await receiver.receive("q", 1, LOCK))[0]
    assert await receiver.abandon(first) == 1
    second = (await receiver.receive("q", 1, LOCK))[0]
    assert second.delivery_count == 2
    assert second.lock_token != first.lock_token
    assert await receiver.complete(first) == 0  # the old lock is gone
    assert await receiver.complete(second) == 1


async def test_expired_lock_makes_it_visible_again(sender, receiver) -> None:
    await sender.send("q", [msg("m")])
    first = (await receiver.receive("q", 1, timedelta(milliseconds=200)))[0]
    assert await receiver.receive("q", 1, LOCK) == []
    await asyncio.sleep(0.3)
    second = (await receiver.receive("q", 1, LOCK))[0]
    assert second.delivery_count == 2
    assert await receiver.abandon(first) == 0  # lock lost
    assert await receiver.renew_lock(first, LOCK) is None


async def test_renewed_lock_keeps_the_message_from_other_consumers(sender, receiver) -> None:
    await sender.send("q", [msg("m")])
    short = timedelta(milliseconds=300)
    [held] = await receiver.receive("q", 1, short)
    for _ in range(4):
        await asyncio.sleep(0.15)
        assert await receiver.renew_lock(held, short) is not None
        assert await receiver.receive("q", 1, short) == []
    assert await receiver.complete(held) == 1


async def test_concurrent_receivers_never_get_the_same_message(sender, database_url) -> None:
    await sender.send("q", [msg(f"m-{i}") for i in range(60)])
    pools = [QueuePool(database_url) for _ in range(3)]
    receivers = [PgQueueReceiver(p) for p in pools]
    try:
        batches = await asyncio.gather(*(r.receive("q", 25, LOCK) for r in receivers))
        ids = [m.message_id for batch in batches for m in batch]
        assert len(ids) == len(set(ids)) == 60
    finally:
        for p in pools:
            await p.close()


async def test_max_delivery_count_dead_letters_a_message_whose_lock_keeps_expiring(sender, receiver) -> None:
    await sender.send("q", [msg("m")])
    for count in (1, 2):
        [got] = await receiver.receive("q", 1, timedelta(milliseconds=1), max_delivery_count=2)
        assert got.delivery_count == count
        await asyncio.sleep(0.01)
    assert await receiver.receive("q", 1, LOCK, max_delivery_count=2) == []
    [dead] = await receiver.dead_letters("q")
    assert dead.dead_letter_reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.delivery_count == 2
    assert dead.queue == "q/$deadletterqueue"


async def test_dead_letter_list_and_resubmit(sender, receiver) -> None:
    await sender.send("q", [msg("a", b"A", application_properties={"p": 1}), msg("b", b"B")])
    got = await receiver.receive("q", 10, LOCK)
    assert await receiver.dead_letter(got, "Poison", "ValueError: bad") == 2
    dead = await receiver.dead_letters("q")
    assert [(d.message_id, d.dead_letter_reason, d.dead_letter_description) for d in dead] == [
        ("a", "Poison", "ValueError: bad"),
        ("b", "Poison", "ValueError: bad"),
    ]
    assert all(d.dead_lettered_at is not None and d.dead_letter_source == "q" for d in dead)
    assert await receiver.receive("q", 10, LOCK) == []

    # Resubmitted within the duplicate window: not dropped, same body, properties and id.
    assert await receiver.resubmit("q", dead[0].sequence_number) == 1
    [again] = await receiver.receive("q", 10, LOCK)
    assert (again.message_id, again.body, again.application_properties) == ("a", b"A", {"p": 1})
    assert again.delivery_count == 1
    assert await receiver.resubmit("q", dead[0].sequence_number) == 0  # already gone
    assert await receiver.resubmit("q", None) == 1
    assert await receiver.dead_letters("q") == []


async def test_messages_survive_a_new_process(database_url) -> None:
    first = PgQueueSender(database_url)
    await first.send("q", [msg("m")])
    await first.close()
    pool = QueuePool(database_url)  # a new pool, as a restarted devhost has
    try:
        assert [m.message_id for m in await PgQueueReceiver(pool).receive("q", 10, LOCK)] == ["m"]
    finally:
        await pool.close()


async def test_purge_forgets_old_ids(sender, receiver, database_url) -> None:
    await sender.send("q", [msg("old"), msg("new")])
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE devhost.message_ids SET sent_at = now() - interval '11 minutes' WHERE message_id = 'old'"
        )
    assert await receiver.purge_duplicate_ids(timedelta(minutes=10)) == 1


async def test_ensure_schema_is_idempotent_and_safe_concurrently(postgres_admin_url) -> None:
    import uuid

    name = f"it_schema_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        conns = [await psycopg.AsyncConnection.connect(url) for _ in range(4)]
        await asyncio.gather(*(ensure_schema(c) for c in conns))
        await ensure_schema(conns[0])
        for c in conns:
            await c.close()
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_send_wakes_a_listener_within_milliseconds(sender, database_url) -> None:
    wakeups = QueueWakeups(database_url)
    await sender.ping()  # schema exists
    await wakeups.start()
    try:
        await wakeups.wait("q", 0)  # clear the initial wake-up
        started = time.monotonic()
        waiting = asyncio.create_task(wakeups.wait("q", 5))
        await asyncio.sleep(0.01)
        await sender.send("q", [msg("m")])
        await waiting
        assert time.monotonic() - started < 0.5
    finally:
        await wakeups.stop()
