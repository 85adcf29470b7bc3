"""The message size rule both adapters apply before sending.

Service Bus Standard refuses messages over 256 KiB; the local queues refuse the same, so a
message that would fail in Azure fails locally too, with an error that names the queue, the
``message_id`` and the size. Size counts the body and the application properties (keys and
values as UTF-8), the part of a message the application controls.
"""

from __future__ import annotations

from shared.errors import MessageTooLarge
from shared.messaging.port import MAX_MESSAGE_BYTES, OutboundMessage


def message_size(message: OutboundMessage) -> int:
    """Bytes of the body plus the application properties' keys and values."""
    properties = sum(
        len(key.encode()) + len(str(value).encode()) for key, value in message.application_properties.items()
    )
    return len(message.body) + properties


def too_large(
    queue: str, message_id: str, size: int | None, limit: int = MAX_MESSAGE_BYTES
) -> MessageTooLarge:
    """The error for a refused message, naming what an operator needs to find it."""
    measured = f"{size} bytes" if size is not None else "over the limit"
    return MessageTooLarge(
        f"message {message_id!r} for queue {queue!r} is {measured} (body + application "
        f"properties); the limit is {limit} bytes"
    )


def check_size(queue: str, message: OutboundMessage, limit: int = MAX_MESSAGE_BYTES) -> None:
    """Raise :class:`MessageTooLarge` when ``message`` is over ``limit``."""
    size = message_size(message)
    if size > limit:
        raise too_large(queue, message.message_id, size, limit)
