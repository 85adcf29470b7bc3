"""The Service Bus dead-letter adapter's own logic: which sub-queue, paging, mapping, the order
send → complete, what is left alone, and error translation.

No namespace is reachable here, so the SDK's network calls are replaced at the adapter's
``ReceiverClientLike`` seam by a fake client with Service Bus's peek-lock rules; the messages it
hands out are the SDK's own ``ServiceBusReceivedMessage`` objects, built from AMQP messages as
the SDK builds them, so the mapping reads them as it would in Azure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus.exceptions import ServiceBusAuthorizationError, ServiceBusConnectionError

from shared.errors import ConfigurationError, DependencyUnavailable
from shared.messaging.factory import create_dead_letter_queues
from shared.messaging.pg_dead_letters import PgDeadLetterQueues
from shared.messaging.port import OutboundMessage
from shared.messaging.resubmission import RESUBMITTED_FROM, Resubmitted
from shared.messaging.servicebus_dead_letters import ServiceBusDeadLetterQueues

pytestmark = pytest.mark.unit

ENQUEUED = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def dead_letter(sequence_number: int, message_id: str, **properties: Any) -> ServiceBusReceivedMessage:
    amqp = Message(
        data=[f'{{"id": "{message_id}"}}'.encode()],
        properties=Properties(message_id=message_id, content_type="application/json"),
        application_properties={
            b"DeadLetterReason": b"MaxDeliveryCountExceeded",
            b"DeadLetterErrorDescription": b"delivered 10 times",
            **{key.encode(): value for key, value in properties.items()},
        },
        message_annotations={
            b"x-opt-sequence-number": sequence_number,
            b"x-opt-enqueued-time": int(ENQUEUED.timestamp() * 1000),
        },
        header=Header(delivery_count=10),
    )
    return ServiceBusReceivedMessage(amqp, receiver=None)


class FakeReceiver:
    """A dead-letter sub-queue with peek-lock: received messages are locked until completed or
    abandoned; peeking sees every message and locks none."""

    def __init__(self, client: FakeClient) -> None:
        self.client = client

    async def __aenter__(self) -> FakeReceiver:
        self.client.log.append("open")
        if self.client.failure:
            raise self.client.failure
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.client.log.append("close")

    async def peek_messages(self, max_message_count: int = 1, *, sequence_number: int = 0) -> list:
        self.client.peeks.append((max_message_count, sequence_number))
        after = [m for m in self.client.queue if (m.sequence_number or 0) >= sequence_number]
        page = after[:max_message_count]
        if not page and self.client.after_peek:
            self.client.after_peek()
        return page

    async def receive_messages(self, max_message_count: int | None = 1, max_wait_time: float | None = None):
        if self.client.before_receive:
            self.client.before_receive()
        visible = [m for m in self.client.queue if m.sequence_number not in self.client.locked]
        batch = visible[: max_message_count or 1]
        self.client.locked.update(m.sequence_number or 0 for m in batch)
        self.client.received += len(batch)
        return batch

    async def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        assert message.sequence_number in self.client.locked, "completed without holding its lock"
        self.client.log.append(f"complete {message.sequence_number}")
        self.client.locked.discard(message.sequence_number)
        self.client.queue.remove(message)

    async def abandon_message(self, message: ServiceBusReceivedMessage) -> None:
        self.client.log.append(f"abandon {message.sequence_number}")
        self.client.locked.discard(message.sequence_number)


class FakeClient:
    def __init__(self, *messages: ServiceBusReceivedMessage) -> None:
        self.queue = list(messages)
        self.locked: set[int] = set()
        self.received = 0
        self.log: list[str] = []
        self.options: list[dict[str, Any]] = []
        self.peeks: list[tuple[int, int]] = []
        self.failure: Exception | None = None
        self.after_peek: Any = None
        self.before_receive: Any = None

    def get_queue_receiver(self, queue_name: str, **options: Any) -> FakeReceiver:
        self.options.append({"queue_name": queue_name, **options})
        return FakeReceiver(self)


class RecordingSender:
    """The app's MessageSender port, recording what it was asked to send, in the client's log."""

    def __init__(self, client: FakeClient, *, fail_on: str | None = None) -> None:
        self.client = client
        self.fail_on = fail_on
        self.sent: list[tuple[str, OutboundMessage]] = []
        self.closed = False

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        for message in messages:
            if message.message_id == self.fail_on:
                raise DependencyUnavailable("Service Bus send failed")
            self.client.log.append(f"send {message.message_id}")
            self.sent.append((queue, message))

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


def adapter(client: FakeClient, sender: RecordingSender | None = None, **options: Any):
    sender = sender or RecordingSender(client)
    return ServiceBusDeadLetterQueues(client, sender, max_wait_time=0.01, **options), sender


async def test_list_peeks_the_dead_letter_sub_queue_page_by_page_and_maps_each_message() -> None:
    client = FakeClient(*(dead_letter(n, f"evt_{n}", attempt=3) for n in range(1, 6)))
    queues, _ = adapter(client, page_size=2)

    letters = await queues.peek("portal-events", limit=4)

    assert client.options[0]["queue_name"] == "portal-events"
    assert client.options[0]["sub_queue"] == ServiceBusSubQueue.DEAD_LETTER
    assert client.peeks == [(2, 1), (2, 3)]  # from the start, then after the last one seen
    assert [letter.message_id for letter in letters] == ["evt_1", "evt_2", "evt_3", "evt_4"]
    first = letters[0]
    assert (first.queue, first.sequence_number, first.delivery_count) == ("portal-events", 1, 10)
    assert first.body == b'{"id": "evt_1"}'
    assert (first.reason, first.description) == ("MaxDeliveryCountExceeded", "delivered 10 times")
    assert first.application_properties["attempt"] == 3
    assert first.enqueued_time == ENQUEUED
    assert client.locked == set()
    assert len(client.queue) == 5


async def test_resubmit_sends_each_chosen_dead_letter_before_completing_it_and_leaves_the_rest() -> None:
    client = FakeClient(
        dead_letter(1, "evt_1"), dead_letter(2, "evt_2", attempt=4, received_at="2026-11-28T10:00:00Z")
    )
    queues, sender = adapter(client)

    done = await queues.resubmit("portal-events", {"evt_2"})

    assert done == [Resubmitted("dead-letter", "portal-events", "evt_2", "evt_2:resubmit1")]
    assert client.options[-1]["sub_queue"] == ServiceBusSubQueue.DEAD_LETTER
    assert client.options[-1]["receive_mode"] == ServiceBusReceiveMode.PEEK_LOCK
    [(queue, message)] = sender.sent
    assert queue == "portal-events"
    assert message.message_id == "evt_2:resubmit1"
    assert message.body == b'{"id": "evt_2"}'
    assert dict(message.application_properties) == {
        "received_at": "2026-11-28T10:00:00Z",
        RESUBMITTED_FROM: "evt_2",
    }
    assert client.log.index("send evt_2:resubmit1") < client.log.index("complete 2")
    assert "abandon 1" in client.log  # held while looking further, then released
    assert [m.message_id for m in client.queue] == ["evt_1"]
    assert client.locked == set()


async def test_resubmit_all_takes_only_what_the_peek_saw() -> None:
    client = FakeClient(dead_letter(1, "evt_1"), dead_letter(2, "evt_2"))
    client.after_peek = lambda: client.queue.append(dead_letter(3, "evt_late"))  # arrives meanwhile
    queues, sender = adapter(client)

    done = await queues.resubmit("portal-events", None)

    assert [r.message_id for r in done] == ["evt_1", "evt_2"]
    assert [m.message_id for _, m in sender.sent] == ["evt_1:resubmit1", "evt_2:resubmit1"]
    assert [m.message_id for m in client.queue] == ["evt_late"]


async def test_a_failed_send_completes_nothing_more_and_releases_what_it_holds() -> None:
    client = FakeClient(dead_letter(1, "evt_1"), dead_letter(2, "evt_2"), dead_letter(3, "evt_3"))
    queues, _ = adapter(client, RecordingSender(client, fail_on="evt_2:resubmit1"))

    with pytest.raises(DependencyUnavailable):
        await queues.resubmit("portal-events", None)

    assert "complete 1" in client.log
    assert "complete 2" not in client.log
    assert "complete 3" not in client.log
    assert [m.message_id for m in client.queue] == ["evt_2", "evt_3"]  # still dead letters
    assert client.locked == set()


async def test_two_dead_letters_with_one_id_are_resubmitted_under_two_ids() -> None:
    client = FakeClient(dead_letter(1, "evt_1"), dead_letter(2, "evt_1"))
    queues, sender = adapter(client)

    await queues.resubmit("portal-events", {"evt_1"})

    assert [m.message_id for _, m in sender.sent] == ["evt_1:resubmit1", "evt_1:resubmit2"]


async def test_a_dead_letter_queue_that_keeps_filling_cannot_keep_the_run_going() -> None:
    client = FakeClient(dead_letter(1, "evt_1"), dead_letter(2, "evt_2"))
    queues, _ = adapter(client, page_size=1)
    numbers = iter(range(100, 10_000))

    def meanwhile() -> None:
        # someone else resubmits evt_2 before we reach it, and new dead letters keep coming
        client.queue = [m for m in client.queue if m.message_id != "evt_2"]
        client.queue.append(dead_letter(next(numbers), "evt_new"))

    client.before_receive = meanwhile
    done = await queues.resubmit("portal-events", {"evt_1", "evt_2"})

    assert [r.message_id for r in done] == ["evt_1"]
    assert client.received == 2 + 1  # what the peek counted, plus one page, then it stops
    assert client.locked == set()


async def test_sdk_failures_become_dependency_unavailable_naming_queue_and_role() -> None:
    client = FakeClient(dead_letter(1, "evt_1"))
    client.failure = ServiceBusAuthorizationError(
        message="Unauthorized access. 'Listen' claim(s) are required"
    )
    queues, _ = adapter(client)
    with pytest.raises(DependencyUnavailable, match=r"'portal-events'.*Data Receiver"):
        await queues.peek("portal-events", limit=10)

    client.failure = ServiceBusConnectionError(message="connection lost")
    with pytest.raises(DependencyUnavailable, match=r"ServiceBusConnectionError"):
        await queues.resubmit("portal-events", None)


async def test_close_closes_the_sender_that_owns_the_client() -> None:
    client = FakeClient()
    queues, sender = adapter(client)
    await queues.close()
    assert sender.closed


CONNECTION_STRING = (
    "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=listen;"
    "SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ=="
)


@pytest.mark.parametrize(
    ("settings", "kind"),
    [
        ({"ServiceBusConnection": "postgresql://u@127.0.0.1:1/db"}, PgDeadLetterQueues),
        ({"ServiceBusConnection": CONNECTION_STRING}, ServiceBusDeadLetterQueues),
        (
            {"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net"},
            ServiceBusDeadLetterQueues,
        ),
    ],
)
async def test_the_adapter_is_chosen_by_the_form_of_the_connection_setting(settings, kind) -> None:
    queues = await create_dead_letter_queues(settings)
    try:
        assert isinstance(queues, kind)
    finally:
        await queues.close()


async def test_no_connection_setting_is_named() -> None:
    with pytest.raises(ConfigurationError, match="ServiceBusConnection"):
        await create_dead_letter_queues({"ServiceBusConnection": ""})
