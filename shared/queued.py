"""A message as a queue-triggered handler sees it, independent of ``azure.functions``.

Function shells build :class:`QueuedMessage` from ``func.ServiceBusMessage``; tests build it
directly. Keeping the core free of the Functions types keeps it testable and host-agnostic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    body: bytes
    message_id: str
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    delivery_count: int = 1
    enqueued_time: datetime | None = None

    def property_str(self, name: str) -> str | None:
        value = self.application_properties.get(name)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
