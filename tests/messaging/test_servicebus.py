"""The Service Bus adapter's own logic: mapping, batching, error translation, caching.

No namespace is reachable here, so the SDK's network calls are replaced at the adapter's
``ClientLike`` seam by a recording client; the batches are the SDK's real
``ServiceBusMessageBatch`` (its own size accounting decides when a batch is full).
"""

from __future__ import annotations

import asyncio
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
from shared.messaging.sender_pool import SenderPool
from shared.messaging.servicebus import ServiceBusSender, to_service_bus_message

pytestmark = pytest.mark.unit


class RecordingBatch(ServiceBusMessageBatch):
    def __init__(self, max_size_in_bytes: int) -> None:
        super().__init__(max_size_in_bytes=max_size_in_bytes)
        self.added: list[ServiceBusMessage] = []

    def add_message(self, message) -> None:
        super().add_message(message)
        self.added.append(message)


#: What the async SDK sender raises when two coroutines use it at once (azure-sdk-for-python
#: #36334, #35618) and after its link idled out (#48921): a bare AttributeError, no AzureError.
CONCURRENT_USE = "'NoneType' object has no attribute 'create_sender_link'"
IDLE_LINK = "'NoneType' object has no attribute 'client_ready_async'"


class FakeSender:
    """An SDK sender as fragile as the real one: it breaks when entered by two coroutines."""

    def __init__(self, client: FakeClient, queue: str) -> None:
        self.client = client
        self.queue = queue
        self.failures = client.failures
        self.sent: list[list[str]] = []
        self.closed = False
        self.opened = 0
        self.busy = False
        self.overlaps = 0
        self.idle = False

    async def _enter(self) -> None:
        if self.client.hang:
            self.client.hanging.set()
            await asyncio.Event().wait()
        if self.closed:
            raise ValueError("The handler has already been shutdown.")
        if self.idle:
            raise AttributeError(IDLE_LINK)
        if self.busy:
            self.overlaps += 1
            raise AttributeError(CONCURRENT_USE)
        self.busy = True
        self.client.in_flight += 1
        self.client.peak_in_flight = max(self.client.peak_in_flight, self.client.in_flight)
        # Give other coroutines the chance to come in while this one is inside, as the SDK
        # does while it (re)opens its link.
        await asyncio.sleep(0)

    def _leave(self) -> None:
        self.busy = False
        self.client.in_flight -= 1

    async def create_message_batch(self) -> RecordingBatch:
        return RecordingBatch(self.client.batch_size)

    async def send_messages(self, message) -> None:
        await self._enter()
        try:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append([m.message_id for m in message.added])
        finally:
            self._leave()

    async def __aenter__(self) -> FakeSender:
        await self._enter()
        try:
            if self.failures:
                raise self.failures.pop(0)
            self.opened += 1
            return self
        finally:
            self._leave()

    async def close(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(self, batch_size: int = 256 * 1024) -> None:
        self.batch_size = batch_size
        self.failures: list[Exception] = []
        self.senders: list[FakeSender] = []
        self.closed = False
        self.in_flight = 0
        self.peak_in_flight = 0
        self.hang = False  # senders wait for ever when entered, as on a dead network
        self.hanging = asyncio.Event()

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        sender = FakeSender(self, queue_name)
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


async def test_sequential_sends_reuse_one_sdk_sender_per_queue() -> None:
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
    assert client.senders[0].closed
    await sender.ping()
    assert client.senders[1].opened == 1


async def test_ping_lends_a_pooled_sender_that_sends_then_reuse() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await sender.ping("q")
    await sender.send("q", [msg("m")])
    assert len(client.senders) == 1
    assert client.senders[0].sent == [["m"]]


async def test_close_closes_every_pooled_sender_client_and_credential() -> None:
    client = FakeClient()
    credential = FakeCredential()
    sender = ServiceBusSender(client, credential=credential)
    await asyncio.gather(*(sender.send("a", [msg(f"{i}")]) for i in range(10)))
    await sender.send("b", [msg("1")])
    assert len(client.senders) > 2
    await sender.close()
    assert all(s.closed for s in client.senders)
    assert client.closed
    assert credential.closed


def sent_ids(client: FakeClient) -> list[str]:
    return sorted(m for s in client.senders for batch in s.sent for m in batch)


async def test_concurrent_sends_all_succeed_in_parallel_never_sharing_a_sender() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await asyncio.gather(*(sender.send("q", [msg(f"m{i:02}")]) for i in range(50)))
    assert sent_ids(client) == [f"m{i:02}" for i in range(50)]
    assert all(s.overlaps == 0 for s in client.senders)
    # Not one lock around one sender: several sends were in flight at once, one per sender.
    assert len(client.senders) > 1
    assert client.peak_in_flight == len(client.senders)


async def test_an_idle_link_attribute_error_discards_that_sender_and_the_next_send_works() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await sender.send("q", [msg("before")])
    client.senders[0].idle = True
    with pytest.raises(DependencyUnavailable, match="AttributeError") as caught:
        await sender.send("q", [msg("lost")])
    assert caught.value.transient
    assert client.senders[0].closed
    await sender.send("q", [msg("after")])
    await sender.send("q", [msg("later")])
    assert len(client.senders) == 2
    assert client.senders[0].sent == [["before"]]
    assert client.senders[1].sent == [["after"], ["later"]]


async def test_one_broken_sender_leaves_the_others_of_the_pool_in_use() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await asyncio.gather(*(sender.send("q", [msg(f"warm{i}")]) for i in range(20)))
    warm = list(client.senders)
    assert len(warm) > 1
    broken = warm[-1]
    broken.idle = True
    # As many sends at once as there are senders: each takes one, one of them the broken one.
    results = await asyncio.gather(
        *(sender.send("q", [msg(f"m{i}")]) for i in range(len(warm))), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert isinstance(failures[0], DependencyUnavailable)
    assert broken.closed
    assert [s for s in warm if s.closed] == [broken]
    before = [len(s.sent) for s in warm]
    await asyncio.gather(*(sender.send("q", [msg(f"n{i}")]) for i in range(20)))
    assert len(broken.sent) == before[-1]
    assert all(s.overlaps == 0 for s in client.senders)
    assert not any(s.closed for s in client.senders if s is not broken)
    assert len(client.senders) == len(warm) + 1


async def test_any_exception_of_a_sender_is_dependency_unavailable_and_discards_it() -> None:
    client = FakeClient()
    client.failures.append(RuntimeError("link state machine confused"))
    sender = ServiceBusSender(client)
    with pytest.raises(DependencyUnavailable, match="RuntimeError: link state machine confused"):
        await sender.send("q", [msg("m")])
    assert client.senders[0].closed
    await sender.send("q", [msg("m")])
    assert client.senders[1].sent == [["m"]]


async def test_a_size_refusal_keeps_the_sender() -> None:
    client = FakeClient(batch_size=500)
    sender = ServiceBusSender(client)
    with pytest.raises(MessageTooLarge):
        await sender.send("q", [msg("huge", 2000)])
    client.failures.append(MessageSizeExceededError(message="too big"))
    with pytest.raises(MessageTooLarge):
        await sender.send("q", [msg("refused")])
    await sender.send("q", [msg("fine")])
    assert len(client.senders) == 1
    assert not client.senders[0].closed
    assert client.senders[0].sent == [["fine"]]


async def test_the_pool_never_grows_past_its_size_and_uses_all_of_it() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client, pool_size=3)
    await asyncio.gather(*(sender.send("q", [msg(f"m{i:02}")]) for i in range(50)))
    assert sent_ids(client) == [f"m{i:02}" for i in range(50)]
    assert len(client.senders) == 3
    assert client.peak_in_flight == 3
    assert all(s.overlaps == 0 for s in client.senders)


async def test_each_queue_has_its_own_pool() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client, pool_size=2)
    await asyncio.gather(
        *(sender.send(queue, [msg(f"{queue}{i}")]) for i in range(10) for queue in ("a", "b"))
    )
    assert sorted(s.queue for s in client.senders) == ["a", "a", "b", "b"]
    assert client.peak_in_flight == 4


def test_a_pool_needs_at_least_one_sender() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ServiceBusSender(FakeClient(), pool_size=0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_sender_idle_past_max_idle_is_closed_before_its_link_times_out() -> None:
    client = FakeClient()
    clock = FakeClock()
    sender = ServiceBusSender(client, max_idle=300, clock=clock)
    await sender.send("q", [msg("a")])
    clock.now += 299
    await sender.send("q", [msg("b")])
    assert len(client.senders) == 1
    clock.now += 301
    # Its link would fail now (#48921); it is replaced before it can.
    client.senders[0].idle = True
    await sender.send("q", [msg("c")])
    assert client.senders[0].closed
    assert client.senders[0].sent == [["a"], ["b"]]
    assert client.senders[1].sent == [["c"]]


async def test_a_cancelled_send_discards_its_sender() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await sender.ping("q")
    client.hang = True
    task = asyncio.create_task(sender.send("q", [msg("m")]))
    await client.hanging.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.senders[0].closed
    client.hang = False
    await sender.send("q", [msg("m")])
    assert client.senders[1].sent == [["m"]]


async def test_a_ping_timed_out_by_the_readiness_check_discards_its_sender() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    client.hang = True
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await sender.ping()
    assert client.senders[0].closed
    client.hang = False
    await sender.ping()
    assert client.senders[1].opened == 1


async def test_light_traffic_after_a_burst_keeps_to_one_warm_sender() -> None:
    client = FakeClient()
    sender = ServiceBusSender(client)
    await asyncio.gather(*(sender.send("q", [msg(f"burst{i}")]) for i in range(20)))
    before = [len(s.sent) for s in client.senders]
    for i in range(5):
        await sender.send("q", [msg(f"quiet{i}")])
    grew = [len(s.sent) - n for s, n in zip(client.senders, before, strict=True)]
    assert sorted(grew) == [0] * (len(grew) - 1) + [5]


class StubbornSender:
    def __init__(self, close_error: BaseException | None = None) -> None:
        self.close_error = close_error
        self.close_calls = 0

    async def close(self) -> None:
        self.close_calls += 1
        if self.close_error is not None:
            raise self.close_error
        await asyncio.Event().wait()


@pytest.mark.parametrize("close_error", [None, RuntimeError("already gone")])
async def test_a_discarded_sender_that_will_not_close_does_not_hold_up_the_error(close_error) -> None:
    made: list[StubbornSender] = []

    def open_sender() -> StubbornSender:
        made.append(StubbornSender(close_error))
        return made[-1]

    pool = SenderPool(open_sender, name="q", size=2, max_idle=300, close_timeout=0.01)
    with pytest.raises(AttributeError):
        async with pool.lease():
            raise AttributeError(IDLE_LINK)
    assert made[0].close_calls == 1
    assert pool.senders == 0
    async with pool.lease() as fresh:
        assert fresh is made[1]
    assert pool.senders == 1


async def test_a_closed_pool_lends_nothing_and_closes_what_comes_back() -> None:
    client = FakeClient()
    pool = SenderPool(lambda: client.get_queue_sender("q"), name="q", size=2, max_idle=300)
    async with pool.lease() as lent:
        await pool.close()
        assert lent.closed
    assert pool.senders == 0
    with pytest.raises(RuntimeError, match="closed"):
        async with pool.lease():
            pass
