"""The parts of ``host.json`` devhost honours: HTTP route prefix and Service Bus concurrency.

Both the Service Bus extension v5 form (``extensions.serviceBus.maxConcurrentCalls``,
``maxMessageBatchSize``, ``maxAutoLockRenewalDuration``, ``autoCompleteMessages``) and the
older ``messageHandlerOptions`` / ``batchOptions`` form are read; the v5 form wins when both are
present. Defaults are the extension's.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


def parse_timespan(value: str, *, where: str) -> timedelta:
    """A .NET TimeSpan string (``[d.]hh:mm:ss[.fff]``)."""
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise ConfigurationError(f"{where} must be a TimeSpan like 00:05:00, got {value!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    return timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0")[:6].ljust(6, "0")),
    )


@dataclass(frozen=True, slots=True)
class ServiceBusOptions:
    max_concurrent_calls: int
    max_message_batch_size: int
    max_auto_lock_renewal: timedelta
    auto_complete: bool = True


@dataclass(frozen=True, slots=True)
class HostConfig:
    route_prefix: str
    service_bus: ServiceBusOptions


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"host.json {where} must be a positive integer, got {value!r}")
    return value


def load_host_config(path: Path) -> HostConfig:
    """Read ``path`` (a missing file means every default)."""
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid JSON: {exc}") from None
    extensions = document.get("extensions") or {}
    http = extensions.get("http") or {}
    bus = extensions.get("serviceBus") or {}
    handler = bus.get("messageHandlerOptions") or {}
    batch = bus.get("batchOptions") or {}

    concurrent = bus.get("maxConcurrentCalls", handler.get("maxConcurrentCalls"))
    batch_size = bus.get("maxMessageBatchSize", batch.get("maxMessageCount"))
    renewal = bus.get("maxAutoLockRenewalDuration", handler.get("maxAutoRenewDuration"))
    auto_complete = bus.get("autoCompleteMessages", handler.get("autoComplete", True))
    return HostConfig(
        route_prefix=str(http.get("routePrefix", "api")).strip("/"),
        service_bus=ServiceBusOptions(
            max_concurrent_calls=(
                _positive_int(concurrent, "extensions.serviceBus.maxConcurrentCalls")
                if concurrent is not None
                else 16 * (os.cpu_count() or 1)
            ),
            max_message_batch_size=(
                _positive_int(batch_size, "extensions.serviceBus.maxMessageBatchSize")
                if batch_size is not None
                else 1000
            ),
            max_auto_lock_renewal=(
                parse_timespan(str(renewal), where="extensions.serviceBus.maxAutoLockRenewalDuration")
                if renewal is not None
                else timedelta(minutes=5)
            ),
            auto_complete=bool(auto_complete),
        ),
    )
