"""Sending messages (the :class:`MessageSender` port) and choosing its adapter.

Application code calls :func:`create_message_sender` once and awaits ``send``; the adapter is
chosen by the form of ``ServiceBusConnection``, never by the code that sends:

* ``Endpoint=sb://…`` — Azure Service Bus with the connection string;
* ``ServiceBusConnection__fullyQualifiedNamespace`` — Service Bus with ``DefaultAzureCredential``;
* ``postgresql://…`` / ``postgres://…`` — the local PostgreSQL queues the devhost reads.
"""

from __future__ import annotations

from shared.messaging.factory import create_message_sender
from shared.messaging.port import (
    ATS_OUTBOUND,
    DOCUMENT_TRANSFERS,
    DOCUMENT_VERIFICATION,
    MAX_MESSAGE_BYTES,
    PORTAL_EVENTS,
    QUEUES,
    MessageSender,
    OutboundMessage,
    PropertyValue,
)

__all__ = [
    "ATS_OUTBOUND",
    "DOCUMENT_TRANSFERS",
    "DOCUMENT_VERIFICATION",
    "MAX_MESSAGE_BYTES",
    "PORTAL_EVENTS",
    "QUEUES",
    "MessageSender",
    "OutboundMessage",
    "PropertyValue",
    "create_message_sender",
]
