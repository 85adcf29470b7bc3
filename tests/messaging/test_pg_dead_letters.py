"""devhost's dead letters for the operator (real PostgreSQL): list, and resubmit in one transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.messaging.pg_dead_letters import PgDeadLetterQueues
from shared.messaging.port import OutboundMessage
from shared.messaging.resubmission import RESUBMITTED_FROM, Resubmitted
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT

pytestmark = pytest.mark.integration

QUEUE = "portal-events"


@pytest.fixture
def dead_letters(queue_pool) -> PgDeadLetterQueues:
    return PgDeadLetterQueues(queue_pool)


async def dead_letter(sender, receiver, *message_ids: str, **properties) -> None:
    """Send the messages and dead-letter them, as devhost does after maxDeliveryCount."""
    await sender.send(
        QUEUE,
        [
            OutboundMessage(body=f'{{"id": "{m}"}}'.encode(), message_id=m, application_properties=properties)
            for m in message_ids
        ],
    )
    locked = await receiver.receive(QUEUE, len(message_ids), timedelta(seconds=60))
    assert await receiver.dead_letter(locked, "HandlerRaised", "KeyError: 'x'") == len(message_ids)


async def test_peek_lists_dead_letters_oldest_first_without_touching_them(dead_letters, sender, receiver):
    await dead_letter(sender, receiver, "evt_1", "evt_2", "evt_3", attempt=2)
    letters = await dead_letters.peek(QUEUE, limit=2)
    assert [letter.message_id for letter in letters] == ["evt_1", "evt_2"]
    first = letters[0]
    assert (first.queue, first.reason, first.description, first.delivery_count) == (
        QUEUE,
        "HandlerRaised",
        "KeyError: 'x'",
        1,
    )
    assert first.body == b'{"id": "evt_1"}'
    assert first.application_properties == {"attempt": 2}
    assert first.dead_lettered_at is not None
    assert len(await receiver.dead_letters(QUEUE)) == 3
    assert await receiver.receive(QUEUE, 10, timedelta(seconds=60)) == []


async def test_resubmit_moves_the_chosen_ones_back_under_new_ids_with_a_fresh_start(
    dead_letters, sender, receiver
):
    await dead_letter(
        sender, receiver, "evt_1", "evt_2", **{ATTEMPT: 5, FIRST_ATTEMPT_AT: "x", "received_at": "t"}
    )
    done = await dead_letters.resubmit(QUEUE, {"evt_2"})
    assert done == [Resubmitted("dead-letter", QUEUE, "evt_2", "evt_2:resubmit1")]
    assert [m.message_id for m in await receiver.dead_letters(QUEUE)] == ["evt_1"]
    [back] = await receiver.receive(QUEUE, 10, timedelta(seconds=60))
    assert back.message_id == "evt_2:resubmit1"
    assert back.body == b'{"id": "evt_2"}'
    assert back.delivery_count == 1
    assert back.application_properties == {"received_at": "t", RESUBMITTED_FROM: "evt_2"}


async def test_two_operators_at_once_resubmit_each_dead_letter_once(
    dead_letters, queue_pool, sender, receiver
):
    await dead_letter(sender, receiver, *(f"evt_{n}" for n in range(20)))
    other = PgDeadLetterQueues(queue_pool)
    first, second = await asyncio.gather(dead_letters.resubmit(QUEUE, None), other.resubmit(QUEUE, None))
    assert sorted(r.message_id for r in first + second) == sorted(f"evt_{n}" for n in range(20))
    queued = await receiver.receive(QUEUE, 100, timedelta(seconds=60))
    assert sorted(m.message_id for m in queued) == sorted(f"evt_{n}:resubmit1" for n in range(20))
    assert await receiver.dead_letters(QUEUE) == []


async def test_a_new_id_that_duplicate_detection_drops_leaves_its_dead_letter(dead_letters, sender, receiver):
    await dead_letter(sender, receiver, "evt_1")
    await sender.send(QUEUE, [OutboundMessage(body=b"{}", message_id="evt_1:resubmit1")])  # minutes ago
    assert await dead_letters.resubmit(QUEUE, None) == []
    assert [m.message_id for m in await receiver.dead_letters(QUEUE)] == ["evt_1"]


async def test_one_message_dead_lettered_twice_goes_back_twice(dead_letters, queue_pool, receiver):
    # the same id sent again after the duplicate window, and dead-lettered again
    from shared.messaging.pg_queue import PgQueueSender

    no_window = PgQueueSender(queue_pool, duplicate_window=timedelta(0))
    await dead_letter(no_window, receiver, "evt_1")
    await dead_letter(no_window, receiver, "evt_1")
    done = await dead_letters.resubmit(QUEUE, {"evt_1"})
    assert [r.new_message_id for r in done] == ["evt_1:resubmit1", "evt_1:resubmit2"]
    assert await receiver.dead_letters(QUEUE) == []
