"""A message as a queue-triggered handler sees it, independent of ``azure.functions``.

Function shells build :class:`QueuedMessage` from ``func.ServiceBusMessage``; tests build it
directly. Keeping the core free of the Functions types keeps it testable and host-agnostic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ServiceBusMessageLike(Protocol):
    """The part of ``azure.functions.ServiceBusMessage`` a queue shell hands over (read here
    through this protocol, so the core needs no ``azure.functions`` import)."""

    def get_body(self) -> bytes: ...

    @property
    def message_id(self) -> str | None: ...

    @property
    def application_properties(self) -> Mapping[str, Any] | None: ...

    @property
    def delivery_count(self) -> int | None: ...

    @property
    def enqueued_time_utc(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    body: bytes
    message_id: str
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    delivery_count: int = 1
    enqueued_time: datetime | None = None

    @classmethod
    def from_service_bus(cls, message: ServiceBusMessageLike) -> QueuedMessage:
        """What a Service Bus trigger delivered, as the core reads it (every queue shell)."""
        return cls(
            body=message.get_body(),
            message_id=message.message_id or "",
            application_properties=dict(message.application_properties or {}),
            delivery_count=message.delivery_count or 1,
            enqueued_time=message.enqueued_time_utc,
        )

    def property_str(self, name: str) -> str | None:
        value = self.application_properties.get(name)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
