"""The one port every send goes through (DESIGN.md, Messaging).

Output bindings carry only a body and are sent after the function returns; the receiver must
know *before* it answers 2xx that an event is queued. So every send is an awaited, confirmed
call on a :class:`MessageSender`, whose adapter is picked by the form of
``ServiceBusConnection`` (never by the code that sends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: Service Bus application property values we use (the SDK accepts these scalar types).
PropertyValue = str | int | float | bool

#: Queue names fixed by DESIGN.md.
PORTAL_EVENTS = "portal-events"
ATS_OUTBOUND = "ats-outbound"
DOCUMENT_TRANSFERS = "document-transfers"
DOCUMENT_VERIFICATION = "document-verification"
QUEUES = (PORTAL_EVENTS, ATS_OUTBOUND, DOCUMENT_TRANSFERS, DOCUMENT_VERIFICATION)

#: Service Bus Standard's message limit; the local queues enforce the same.
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message to send. ``message_id`` drives duplicate detection (10 minutes)."""

    body: bytes
    message_id: str
    scheduled_enqueue_time: datetime | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    content_type: str = "application/json"


class MessageSender(Protocol):
    """Sends messages and returns only once the transport has confirmed them.

    Raises :class:`shared.errors.MessageTooLarge` when a message exceeds the queue's size limit
    and :class:`shared.errors.DependencyUnavailable` when the transport cannot confirm the send.
    A message whose ``message_id`` was sent to the same queue within the last 10 minutes is
    accepted and dropped (duplicate detection), as Service Bus does.
    """

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None: ...

    async def ping(self) -> None:
        """Raise :class:`shared.errors.DependencyUnavailable` unless the transport answers."""
        ...

    async def close(self) -> None: ...
