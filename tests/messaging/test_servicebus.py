"""The Service Bus adapter's own logic: mapping, batching, error translation, caching.

No namespace is reachable here, so the SDK's network calls are replaced at the adapter's
``ClientLike`` seam by a recording client; the batches are the SDK's real
``ServiceBusMessageBatch`` (its own size accounting decides when a batch is full).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthorizationError,
    ServiceBusConnectionError,
    ServiceBusServerBusyError,
)

from shared.errors import DependencyUnavailable, MessageTooLarge
from shared.messaging import MAX_MESSAGE_BYTES, OutboundMessage
from shared.messaging.servicebus import ServiceBusSender, to_service_bus_message

pytestmark = pytest.mark.unit


class RecordingBatch(ServiceBusMessageBatch):
    def __init__(self, max_size_in_bytes: int) -> None:
        super().__init__(max_size_in_bytes=max_size_in_bytes)
        self.added: list[ServiceBusMessage] = []

    def add_message(self, message) -> None:
        super().add_message(message)
        self.added.append(message)


class FakeSender:
    def __init__(self, queue: str, batch_size: int, failures: list[Exception]) -> None:
        self.queue = queue
        self.batch_size = batch_size
        self.failures = failures
        self.sent: list[list[str]] = []
        self.closed = False
        self.opened = 0

    async def create_message_batch(self) -> RecordingBatch:
        return RecordingBatch(self.batch_size)

    async def send_messages(self, message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append([m.message_id for m in message.added])

    async def __aenter__(self) -> FakeSender:
        if self.failures:
            raise self.failures.pop(0)
        self.opened += 1
        return self

    async def close(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(self, batch_size: int = 256 * 1024) -> None:
        self.batch_size = batch_size
        self.failures: list[Exception] = []
        self.senders: list[FakeSender] = []
        self.closed = False

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        sender = FakeSender(queue_name, self.batch_size, self.failures)
        self.senders.append(sender)
        return sender

    async def close(self) -> None:
        self.closed = True


class FakeCredential:
    closed = False

    async def close(self) -> None:
        self.closed = True


def msg(message_id: str, size: int = 10, **kwargs) -> OutboundMessage:
    return OutboundMessage(body=b"x" * size, message_id=message_id, **kwargs)


def test_mapping_carries_body_id_schedule_properties_and_content_type() -> None:
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    mapped = to_service_bus_message(
        OutboundMessage(
            body=b'{"a":1}',
            message_id="evt-1",
            scheduled_enqueue_time=due,
            application_properties={"attempt": 2, "origin": "portal"},
            content_type="application/json",
        )
    )
    assert b"".join(mapped.body) == b'{"a":1}'
    assert mapped.message_id == "evt-1"
    assert mapped.content_type == "application/json"
    assert mapped.application_properties == {"attempt": 2, "origin": "portal"}
    assert mapped.scheduled_enqueue_time_utc == due.astimezone(UTC)


def test_mapping_takes_a_naive_schedule_as_utc_and_omits_empty_properties() -> None:
    mapped = to_service_bus_message(msg("m", scheduled_enqueue_time=datetime(2030, 1, 1, 12)))
    assert mapped.scheduled_enqueue_time_utc == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert not mapped.application_properties
    assert to_service_bus_message(msg("n")).scheduled_enqueue_time_utc is None


async def test_one_batch_when_everything_fits() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await sender.send("q", [msg("a"), msg("b"), msg("c")])
    assert client.senders[0].sent == [["a", "b", "c"]]


async def test_a_full_batch_is_sent_and_a_new_one_started() -> None:
    client = FakeClient(batch_size=1200)
    sender = ServiceBusSender(client)
    await sender.send("q", [msg(f"m{i}", 300) for i in range(7)])
    sent = client.senders[0].sent
    assert [m for batch in sent for m in batch] == [f"m{i}" for i in range(7)]
    assert len(sent) > 1
    assert all(batch for batch in sent)


async def test_a_message_too_big_for_an_empty_batch_is_message_too_large() -> None:
    client = FakeClient(batch_size=500)
    sender = ServiceBusSender(client)
    with pytest.raises(MessageTooLarge, match="'huge'"):
        await sender.send("q", [msg("huge", 2000)])


async def test_over_the_limit_is_refused_before_anything_is_sent() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    with pytest.raises(MessageTooLarge) as caught:
        await sender.send("portal-events", [msg("ok"), msg("evt-9", MAX_MESSAGE_BYTES + 1)])
    assert "'portal-events'" in str(caught.value)
    assert "'evt-9'" in str(caught.value)
    assert str(MAX_MESSAGE_BYTES + 1) in str(caught.value)
    assert client.senders == []


async def test_sdk_size_error_on_send_is_message_too_large() -> None:
    client = FakeClient()
    client.failures.append(MessageSizeExceededError(message="too big"))
    with pytest.raises(MessageTooLarge):
        await ServiceBusSender(client).send("q", [msg("m")])


@pytest.mark.parametrize(
    ("error", "expected", "retry_after"),
    [
        (ServiceBusConnectionError(message="reset"), "failed", None),
        (ServiceBusAuthorizationError(message="no claim"), "Data Sender", None),
        (ClientAuthenticationError("no identity"), "refused our credentials", None),
        (MessagingEntityNotFoundError(message="gone"), "does not exist", None),
        (ServiceBusServerBusyError(message="busy"), "busy", 10.0),
        (TimeoutError(), "failed", None),
    ],
)
async def test_transport_errors_are_dependency_unavailable(error, expected, retry_after) -> None:
    client = FakeClient()
    client.failures.append(error)
    sender = ServiceBusSender(client)
    with pytest.raises(DependencyUnavailable, match=expected) as caught:
        await sender.send("q", [msg("m")])
    assert caught.value.transient
    assert caught.value.retry_after == retry_after
    # The broken link is dropped; the next send opens a new one and succeeds.
    assert client.senders[0].closed
    await sender.send("q", [msg("m")])
    assert len(client.senders) == 2
    assert client.senders[1].sent == [["m"]]


async def test_one_sdk_sender_per_queue_is_cached() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await sender.send("a", [msg("1")])
    await sender.send("a", [msg("2")])
    await sender.send("b", [msg("3")])
    assert [s.queue for s in client.senders] == ["a", "b"]
    await sender.send("a", [])
    assert client.senders[0].sent == [["1"], ["2"]]


async def test_ping_opens_the_portal_events_link_and_translates_failures() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await sender.ping()
    assert client.senders[0].queue == "portal-events"
    assert client.senders[0].opened == 1
    client.failures.append(ServiceBusAuthorizationError(message="no"))
    with pytest.raises(DependencyUnavailable):
        await sender.ping()


async def test_close_closes_senders_client_and_credential() -> None:
    client = FakeClient()
    credential = FakeCredential()
    sender = ServiceBusSender(client, credential=credential)
    await sender.send("a", [msg("1")])
    await sender.close()
    assert client.senders[0].closed
    assert client.closed
    assert credential.closed
