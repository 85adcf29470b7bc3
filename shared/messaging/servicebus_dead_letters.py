"""The Azure :class:`DeadLetterQueues`: Service Bus's ``QUEUE/$deadletterqueue`` through the SDK.

Used when ``ServiceBusConnection`` is a connection string or
``ServiceBusConnection__fullyQualifiedNamespace`` names a namespace (the identity needs the
"Azure Service Bus Data Receiver" and "Data Sender" roles).

* **list**: ``peek_messages`` on a receiver opened with ``sub_queue=DEAD_LETTER``, page by page
  from sequence number 1. Peeking locks nothing and changes nothing.
* **resubmit**: the dead letters to take are chosen from a peek first (so messages that arrive
  during the run are left alone), then received in peek-lock mode. Each chosen one is sent to
  its queue under its new id (:mod:`shared.messaging.resubmission`) through the app's
  :class:`MessageSender`, confirmed, and only then completed; a message received but not
  chosen stays locked until the end, so that the next receive moves on to the following
  messages, and is then abandoned (it stays a dead letter). At most as many messages are
  received as the peek counted, plus one page, so a dead-letter queue that keeps filling
  cannot keep a run going.

A crash (or a lost lock) between the send and the completion leaves the dead letter in place
and its copy on the queue: nothing is lost. Resubmitting it again sends the same new id, which
duplicate detection drops within 10 minutes; after that, the processors' idempotency absorbs
the copy. Service Bus gives no way to receive one dead letter by its id, hence the scan.

SDK failures are translated at this boundary into :class:`DependencyUnavailable`, naming the
queue and, for refused credentials, the role to check. The SDK sits behind the small
:class:`ReceiverClientLike` / :class:`ReceiverLike` seams, so this logic is tested with a fake
client that hands out the SDK's own received-message objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any, Protocol

from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.amqp import AmqpMessageBodyType
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
)

from shared.errors import DependencyUnavailable, IntegrationError
from shared.messaging.dead_letters import DeadLetter
from shared.messaging.port import MessageSender, PropertyValue
from shared.messaging.resubmission import Resubmitted, resubmission
from shared.messaging.servicebus import ServiceBusSender

#: Messages per peek or receive call.
PAGE_SIZE = 100

#: How long a receive waits for messages before the run takes the queue as drained.
MAX_WAIT_SECONDS = 5.0

#: The most dead letters a resubmit looks at in one run (the peek that chooses them).
SCAN_LIMIT = 10_000


class ReceiverLike(Protocol):
    """What we use of ``azure.servicebus.aio.ServiceBusReceiver``."""

    async def peek_messages(
        self, max_message_count: int = 1, *, sequence_number: int = 0
    ) -> list[ServiceBusReceivedMessage]: ...

    async def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[ServiceBusReceivedMessage]: ...

    async def complete_message(self, message: ServiceBusReceivedMessage) -> None: ...

    async def abandon_message(self, message: ServiceBusReceivedMessage) -> None: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc_info: object) -> Any: ...


class ReceiverClientLike(Protocol):
    """What we use of ``azure.servicebus.aio.ServiceBusClient`` here."""

    def get_queue_receiver(self, queue_name: str, **options: Any) -> Any: ...


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _property(value: object) -> PropertyValue:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _optional(value: PropertyValue | None) -> str | None:
    return None if value is None else str(value)


def _body(message: ServiceBusReceivedMessage) -> bytes:
    # Our senders send data bodies; anything else (another producer's value body) is taken as
    # the SDK renders it.
    if message.body_type == AmqpMessageBodyType.DATA:
        return b"".join(message.body)
    return str(message).encode()


def to_dead_letter(queue: str, message: ServiceBusReceivedMessage) -> DeadLetter:
    """The SDK's received dead letter as the port's value (property keys and values decoded)."""
    properties = {_text(k): _property(v) for k, v in (message.application_properties or {}).items()}
    return DeadLetter(
        queue=queue,
        sequence_number=message.sequence_number or 0,
        message_id=_text(message.message_id or ""),
        body=_body(message),
        content_type=message.content_type,
        application_properties=properties,
        delivery_count=message.delivery_count or 0,
        enqueued_time=message.enqueued_time_utc,
        # The SDK decodes these only when they arrive as bytes; the decoded properties hold them
        # either way.
        reason=message.dead_letter_reason or _optional(properties.get("DeadLetterReason")),
        description=message.dead_letter_error_description
        or _optional(properties.get("DeadLetterErrorDescription")),
    )


def translate(exc: Exception, queue: str) -> DependencyUnavailable:
    """The :class:`DependencyUnavailable` that stands for an SDK failure on ``queue``'s dead letters."""
    kind = type(exc).__name__
    refused = ServiceBusAuthenticationError | ServiceBusAuthorizationError | ClientAuthenticationError
    if isinstance(exc, refused):
        return DependencyUnavailable(
            f"Service Bus refused our credentials for the dead letters of {queue!r} ({kind}); check "
            "the connection string or the identity's 'Azure Service Bus Data Receiver' role"
        )
    if isinstance(exc, MessagingEntityNotFoundError):
        return DependencyUnavailable(f"Service Bus queue {queue!r} does not exist ({kind})")
    return DependencyUnavailable(f"Service Bus dead letters of {queue!r}: {kind}: {exc}")


class ServiceBusDeadLetterQueues:
    """Dead letters through the SDK; resubmitted messages go out through ``sender``.

    ``sender`` owns ``client`` (the factory builds a :class:`ServiceBusSender` on the same
    client), so :meth:`close` closes the sender only.
    """

    def __init__(
        self,
        client: ReceiverClientLike,
        sender: MessageSender,
        *,
        page_size: int = PAGE_SIZE,
        max_wait_time: float = MAX_WAIT_SECONDS,
        scan_limit: int = SCAN_LIMIT,
    ) -> None:
        self._client = client
        self._sender = sender
        self._page_size = page_size
        self._max_wait_time = max_wait_time
        self._scan_limit = scan_limit

    @classmethod
    def from_connection_string(cls, connection_string: str) -> ServiceBusDeadLetterQueues:
        from azure.servicebus.aio import ServiceBusClient

        client = ServiceBusClient.from_connection_string(connection_string)
        return cls(client, ServiceBusSender(client))

    @classmethod
    def from_namespace(cls, fully_qualified_namespace: str) -> ServiceBusDeadLetterQueues:
        from azure.identity.aio import DefaultAzureCredential
        from azure.servicebus.aio import ServiceBusClient

        credential = DefaultAzureCredential()
        client = ServiceBusClient(fully_qualified_namespace, credential)
        return cls(client, ServiceBusSender(client, credential=credential))

    def _receiver(self, queue: str) -> ReceiverLike:
        receiver: ReceiverLike = self._client.get_queue_receiver(
            queue_name=queue,
            sub_queue=ServiceBusSubQueue.DEAD_LETTER,
            receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
            prefetch_count=0,
        )
        return receiver

    async def peek(self, queue: str, *, limit: int) -> list[DeadLetter]:
        try:
            async with self._receiver(queue) as receiver:
                found: list[ServiceBusReceivedMessage] = []
                next_sequence_number = 1
                while len(found) < limit:
                    page = await receiver.peek_messages(
                        min(self._page_size, limit - len(found)), sequence_number=next_sequence_number
                    )
                    if not page:
                        break
                    found.extend(page)
                    next_sequence_number = max(m.sequence_number or 0 for m in page) + 1
        except IntegrationError:
            raise
        except Exception as exc:
            raise translate(exc, queue) from exc
        return [to_dead_letter(queue, message) for message in found]

    async def resubmit(self, queue: str, message_ids: Collection[str] | None) -> list[Resubmitted]:
        peeked = await self.peek(queue, limit=self._scan_limit)
        wanted = {
            letter.sequence_number
            for letter in peeked
            if message_ids is None or letter.message_id in message_ids
        }
        if not wanted:
            return []
        try:
            return await self._take(queue, wanted, budget=len(peeked) + self._page_size)
        except IntegrationError:
            raise
        except Exception as exc:
            raise translate(exc, queue) from exc

    async def _take(self, queue: str, wanted: set[int], *, budget: int) -> list[Resubmitted]:
        done: list[Resubmitted] = []
        held: dict[int, ServiceBusReceivedMessage] = {}
        received = 0
        async with self._receiver(queue) as receiver:
            try:
                while wanted and received < budget:
                    batch = await receiver.receive_messages(
                        min(self._page_size, budget - received), max_wait_time=self._max_wait_time
                    )
                    if not batch:
                        break
                    received += len(batch)
                    # Held as a whole at once: if a send fails midway, the rest of the batch
                    # is released too, not left locked until its lock expires.
                    held.update((message.sequence_number or 0, message) for message in batch)
                    for message in batch:
                        number = message.sequence_number or 0
                        if number not in wanted:
                            continue
                        letter = to_dead_letter(queue, message)
                        copy = resubmission(
                            letter.message_id,
                            letter.body,
                            application_properties=letter.application_properties,
                            content_type=letter.content_type,
                            taken={r.new_message_id for r in done},
                        )
                        await self._sender.send(queue, [copy])
                        await receiver.complete_message(message)
                        del held[number]
                        wanted.discard(number)
                        done.append(Resubmitted("dead-letter", queue, letter.message_id, copy.message_id))
            finally:
                for message in held.values():
                    # Best effort: a lock that expired has released the message already.
                    with contextlib.suppress(Exception):
                        await receiver.abandon_message(message)
        return done

    async def close(self) -> None:
        await self._sender.close()
