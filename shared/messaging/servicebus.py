"""The Azure :class:`MessageSender`: the ``azure-servicebus`` async SDK.

Used when ``ServiceBusConnection`` is a connection string (``Endpoint=sb://…``) or when
``ServiceBusConnection__fullyQualifiedNamespace`` names a namespace (``DefaultAzureCredential``,
i.e. the Function App's managed identity). One client per adapter, created once per worker.

The SDK's async sender is not coroutine-safe (two concurrent sends break its link,
azure-sdk-for-python #36334, #35618) and, once its link has idled out, can fail with a bare
``AttributeError`` (#48921). So each queue has a small :class:`SenderPool` of SDK senders
(``pool_size``, default 8, reasoned at :data:`DEFAULT_POOL_SIZE`), each lent to one coroutine
at a time: concurrent sends (every webhook's 202 waits on one) run in parallel on different
senders, and wait for a free one only beyond the pool's size. A sender that raises anything but
a size refusal is closed and never used again; the next send opens a fresh one. A sender idle
longer than ``max_idle`` is closed before its link can time out.

Sends go in message batches (``create_message_batch``), split when a batch is full, so a
confirmed ``send`` means Service Bus acknowledged every batch. If a later batch fails after an
earlier one was sent, the caller's retry re-sends them all and duplicate detection (10 minutes
on ``message_id``) drops the ones already queued.

Error translation, decided so that no event is ever recorded as failed because of *our*
transport:

* a message too large (checked before anything is sent, and the SDK's
  ``MessageSizeExceededError``) → :class:`MessageTooLarge`: that message can never be sent;
* everything else a sender raises (any exception, the SDK's bare ``AttributeError`` included)
  → :class:`DependencyUnavailable`. That covers authentication, authorization and "entity not
  found" too: those are configuration faults of the deployment (a missing role assignment
  takes minutes to propagate, a queue may be created late), not of the message, so treating
  them as transient makes the webhook answer 503 so the portal retries, and makes queue flows
  back off and finally park with an alert, instead of marking an event failed for good. The
  error text says which it was, so the operator sees it.

A message the SDK cannot even represent is mapped before a sender is taken and raises as it is:
that is our bug, not the transport's.

The SDK sits behind the tiny :class:`ClientLike` and :class:`SenderLike` seams (the calls
used), so the mapping, batching, pooling and translation logic is tested without a namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    ServiceBusServerBusyError,
)

from shared.errors import DependencyUnavailable, MessageTooLarge
from shared.messaging.pg_queue import as_utc
from shared.messaging.port import PORTAL_EVENTS, OutboundMessage
from shared.messaging.sender_pool import SenderPool
from shared.messaging.size import check_size, message_size, too_large

#: How long Service Bus asks a client to wait when it answers "server busy".
SERVER_BUSY_RETRY_AFTER = 10.0

#: SDK senders per queue (docs/messaging.md has the reasoning). A send holds its sender for one
#: round trip to the namespace, so a pool carries about ``size / round trip`` sends a second:
#: 8 at ~10 ms in-region is ~800/s, about the 785 acks/s one worker process reached in
#: docs/benchmarks.md, so the pool is not what limits a burst; 4 would halve that. Each sender
#: is its own AMQP connection (the async client shares none) and counts against the namespace's
#: 5,000; senders open only when all are busy and are closed once ``max_idle`` unused, so the
#: count follows real concurrency, at worst 8 per queue per worker process.
DEFAULT_POOL_SIZE = 8

#: A sender idle this long is closed rather than reused: Service Bus detaches a link after 10
#: idle minutes and the async SDK then fails the next send with a bare AttributeError.
MAX_IDLE_SECONDS = 300.0

#: Errors after which a sender is still sound: the message was refused, not the link (the SDK
#: raises MessageSizeExceededError with ``shutdown_handler=False`` for the same reason).
KEEPS_SENDER: tuple[type[BaseException], ...] = (MessageTooLarge, MessageSizeExceededError)


class BatchLike(Protocol):
    """What we use of ``azure.servicebus.ServiceBusMessageBatch``."""

    def add_message(self, message: ServiceBusMessage) -> None: ...

    def __len__(self) -> int: ...


class SenderLike(Protocol):
    """What we use of ``azure.servicebus.aio.ServiceBusSender``."""

    async def create_message_batch(self) -> Any: ...

    async def send_messages(self, message: Any) -> None: ...

    async def __aenter__(self) -> Any: ...

    async def close(self) -> None: ...


class ClientLike(Protocol):
    """What we use of ``azure.servicebus.aio.ServiceBusClient``."""

    def get_queue_sender(self, queue_name: str) -> Any: ...

    async def close(self) -> None: ...


def to_service_bus_message(message: OutboundMessage) -> ServiceBusMessage:
    """Map the port's message onto the SDK's (naive scheduled times are taken as UTC)."""
    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        content_type=message.content_type,
        application_properties=dict(message.application_properties) or None,  # type: ignore[arg-type]
        scheduled_enqueue_time_utc=as_utc(message.scheduled_enqueue_time),
    )


def translate(exc: Exception, queue: str, message: OutboundMessage | None = None) -> Exception:
    """The error of :mod:`shared.errors` that stands for an SDK or credential failure."""
    if isinstance(exc, MessageSizeExceededError):
        message_id = message.message_id if message else "(batch)"
        size = message_size(message) if message else None
        return too_large(queue, message_id, size)
    kind = type(exc).__name__
    refused = ServiceBusAuthenticationError | ServiceBusAuthorizationError | ClientAuthenticationError
    if isinstance(exc, refused):
        hint = "check the connection string or the identity's 'Azure Service Bus Data Sender' role"
        return DependencyUnavailable(
            f"Service Bus refused our credentials for queue {queue!r} ({kind}); {hint}"
        )
    if isinstance(exc, MessagingEntityNotFoundError):
        return DependencyUnavailable(f"Service Bus queue {queue!r} does not exist ({kind})")
    if isinstance(exc, ServiceBusServerBusyError):
        return DependencyUnavailable(
            f"Service Bus is busy for queue {queue!r} ({kind})", retry_after=SERVER_BUSY_RETRY_AFTER
        )
    return DependencyUnavailable(f"Service Bus send to queue {queue!r} failed: {kind}: {exc}")


class ServiceBusSender:
    """Confirmed sends through the SDK: one client, a small pool of SDK senders per queue."""

    def __init__(
        self,
        client: ClientLike,
        *,
        credential: Any = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_idle: float = MAX_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self._client = client
        self._credential = credential
        self._pool_size = pool_size
        self._max_idle = max_idle
        self._clock = clock
        self._pools: dict[str, SenderPool[SenderLike]] = {}

    @classmethod
    def from_connection_string(cls, connection_string: str, **options: Any) -> ServiceBusSender:
        from azure.servicebus.aio import ServiceBusClient

        return cls(ServiceBusClient.from_connection_string(connection_string), **options)

    @classmethod
    def from_namespace(cls, fully_qualified_namespace: str, **options: Any) -> ServiceBusSender:
        from azure.identity.aio import DefaultAzureCredential
        from azure.servicebus.aio import ServiceBusClient

        credential = DefaultAzureCredential()
        client = ServiceBusClient(fully_qualified_namespace, credential)
        return cls(client, credential=credential, **options)

    def _pool(self, queue: str) -> SenderPool[SenderLike]:
        pool = self._pools.get(queue)
        if pool is None:
            pool = SenderPool(
                lambda: self._client.get_queue_sender(queue_name=queue),
                name=f"queue {queue!r}",
                size=self._pool_size,
                max_idle=self._max_idle,
                keeps=KEEPS_SENDER,
                clock=self._clock,
            )
            self._pools[queue] = pool
        return pool

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Send ``messages`` to ``queue`` in as few batches as fit; return once all are acknowledged."""
        if not messages:
            return
        for message in messages:
            check_size(queue, message)
        # Mapped before a sender is taken: a message the SDK cannot represent is our bug, raised
        # as it is, not a transport failure.
        mapped = [(message, to_service_bus_message(message)) for message in messages]
        try:
            async with self._pool(queue).lease() as sender:
                await _send_batches(sender, queue, mapped)
        except MessageTooLarge:
            raise
        except Exception as exc:
            raise translate(exc, queue) from exc

    async def ping(self, queue: str = PORTAL_EVENTS) -> None:
        """Open (or reuse) a sender link of ``queue``: namespace, credentials and queue answer."""
        try:
            async with self._pool(queue).lease() as sender:
                await sender.__aenter__()
        except Exception as exc:
            raise translate(exc, queue) from exc

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.close()
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()


async def _send_batches(
    sender: SenderLike, queue: str, mapped: Sequence[tuple[OutboundMessage, ServiceBusMessage]]
) -> None:
    """Fill batches in order and send each when full; a size refusal names its message."""
    current: OutboundMessage | None = None
    try:
        batch = await sender.create_message_batch()
        for message, sdk_message in mapped:
            current = message
            try:
                batch.add_message(sdk_message)
            except MessageSizeExceededError:
                if len(batch) == 0:
                    raise
                await sender.send_messages(batch)
                batch = await sender.create_message_batch()
                batch.add_message(sdk_message)
        current = None
        if len(batch):
            await sender.send_messages(batch)
    except MessageSizeExceededError as exc:
        # Raised inside the lease as MessageTooLarge, which the pool keeps the sender for.
        raise translate(exc, queue, current) from exc
