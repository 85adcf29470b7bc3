"""A queue's dead letters, for the operator: the :class:`DeadLetterQueues` port.

A message whose handler kept raising (a bug) ends, after ``maxDeliveryCount`` deliveries, in
its queue's dead-letter queue (DESIGN.md). An operator fixes the cause, then lists the dead
letters and puts them back. The adapter is chosen by the form of ``ServiceBusConnection``, as
the sender is (:func:`shared.messaging.factory.create_dead_letter_queues`):

* locally, devhost's PostgreSQL tables (``devhost.messages``, queue ``QUEUE/$deadletterqueue``):
  :mod:`shared.messaging.pg_dead_letters`;
* in Azure, Service Bus's ``QUEUE/$deadletterqueue`` sub-queue through the SDK:
  :mod:`shared.messaging.servicebus_dead_letters`.

A resubmitted message is built by :func:`shared.messaging.resubmission.resubmission` (new id,
retry counters dropped), whatever the transport.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.messaging.port import PropertyValue
from shared.messaging.resubmission import Resubmitted


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered message as the operator sees it.

    ``sequence_number`` is the dead-letter queue's own; ``dead_lettered_at`` is known locally
    only (Service Bus does not expose it; ``enqueued_time`` is the original enqueue time there).
    """

    queue: str
    sequence_number: int
    message_id: str
    body: bytes
    content_type: str | None
    application_properties: Mapping[str, PropertyValue]
    delivery_count: int
    enqueued_time: datetime | None
    reason: str | None
    description: str | None
    dead_lettered_at: datetime | None = None


class DeadLetterQueues(Protocol):
    """List and resubmit the dead letters of a queue, on whichever transport holds them."""

    async def peek(self, queue: str, *, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters of ``queue``, oldest first; nothing is locked or changed."""
        ...

    async def resubmit(self, queue: str, message_ids: Collection[str] | None) -> list[Resubmitted]:
        """Put the dead letters of ``queue`` whose ``message_id`` is in ``message_ids`` (every
        one when ``None``) back on ``queue``; each is sent (confirmed) before it leaves the
        dead-letter queue. Returns what was resubmitted, in order.

        Raises :class:`shared.errors.DependencyUnavailable` when the transport does not answer;
        what was resubmitted before stays resubmitted, the rest stays dead-lettered.
        """
        ...

    async def close(self) -> None: ...
