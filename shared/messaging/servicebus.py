"""The Azure :class:`MessageSender`: the ``azure-servicebus`` async SDK.

Used when ``ServiceBusConnection`` is a connection string (``Endpoint=sb://…``) or when
``ServiceBusConnection__fullyQualifiedNamespace`` names a namespace (``DefaultAzureCredential``,
i.e. the Function App's managed identity). One client per adapter and one SDK sender per queue
are created lazily and cached for the worker's life, as the SDK recommends.

Sends go in message batches (``create_message_batch``), split when a batch is full, so a
confirmed ``send`` means Service Bus acknowledged every batch. If a later batch fails after an
earlier one was sent, the caller's retry re-sends them all and duplicate detection (10 minutes
on ``message_id``) drops the ones already queued.

Error translation, decided so that no event is ever recorded as failed because of *our*
transport:

* a message too large (checked before anything is sent, and the SDK's
  ``MessageSizeExceededError``) → :class:`MessageTooLarge`: that message can never be sent;
* everything else from the SDK, including authentication, authorization and "entity not
  found", → :class:`DependencyUnavailable`. Those are configuration faults of the deployment
  (a missing role assignment takes minutes to propagate, a queue may be created late), not of
  the message: treating them as transient makes the webhook answer 503 so the portal retries,
  and makes queue flows back off and finally park with an alert, instead of marking an event
  failed for good. The error text says which it was, so the operator sees it.

The SDK sits behind the tiny :class:`ClientLike` seam (the three calls used), so the mapping,
batching and translation logic is tested without a namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ClientAuthenticationError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import (
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    ServiceBusServerBusyError,
)

from shared.errors import DependencyUnavailable
from shared.messaging.pg_queue import as_utc
from shared.messaging.port import PORTAL_EVENTS, OutboundMessage
from shared.messaging.size import check_size, message_size, too_large

#: How long Service Bus asks a client to wait when it answers "server busy".
SERVER_BUSY_RETRY_AFTER = 10.0


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
    """Confirmed sends through the SDK; one client, one cached SDK sender per queue."""

    def __init__(self, client: ClientLike, *, credential: Any = None) -> None:
        self._client = client
        self._credential = credential
        self._senders: dict[str, SenderLike] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str) -> ServiceBusSender:
        from azure.servicebus.aio import ServiceBusClient

        return cls(ServiceBusClient.from_connection_string(connection_string))

    @classmethod
    def from_namespace(cls, fully_qualified_namespace: str) -> ServiceBusSender:
        from azure.identity.aio import DefaultAzureCredential
        from azure.servicebus.aio import ServiceBusClient

        credential = DefaultAzureCredential()
        client = ServiceBusClient(fully_qualified_namespace, credential)
        return cls(client, credential=credential)

    async def _sender(self, queue: str) -> SenderLike:
        sender = self._senders.get(queue)
        if sender is None:
            async with self._lock:
                sender = self._senders.get(queue)
                if sender is None:
                    sender = self._client.get_queue_sender(queue_name=queue)
                    self._senders[queue] = sender
        return sender

    async def _discard(self, queue: str) -> None:
        """Drop a sender after a failure so the next send starts on a fresh link."""
        sender = self._senders.pop(queue, None)
        if sender is not None:
            # It is already broken; the next send opens a new one.
            with contextlib.suppress(AzureError, OSError):
                await sender.close()

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Send ``messages`` to ``queue`` in as few batches as fit; return once all are acknowledged."""
        if not messages:
            return
        for message in messages:
            check_size(queue, message)
        sender = await self._sender(queue)
        current: OutboundMessage | None = None
        try:
            batch = await sender.create_message_batch()
            for current in messages:
                mapped = to_service_bus_message(current)
                try:
                    batch.add_message(mapped)
                except MessageSizeExceededError:
                    if len(batch) == 0:
                        raise
                    await sender.send_messages(batch)
                    batch = await sender.create_message_batch()
                    batch.add_message(mapped)
            current = None
            if len(batch):
                await sender.send_messages(batch)
        except MessageSizeExceededError as exc:
            raise translate(exc, queue, current) from exc
        except (AzureError, OSError, TimeoutError) as exc:
            await self._discard(queue)
            raise translate(exc, queue) from exc

    async def ping(self, queue: str = PORTAL_EVENTS) -> None:
        """Open (or reuse) the sender link of ``queue``: namespace, credentials and queue answer."""
        sender = await self._sender(queue)
        try:
            await sender.__aenter__()
        except (AzureError, OSError, TimeoutError) as exc:
            await self._discard(queue)
            raise translate(exc, queue) from exc

    async def close(self) -> None:
        for queue in list(self._senders):
            await self._discard(queue)
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()
