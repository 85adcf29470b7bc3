"""Counters the app keeps about itself: in-process for /metrics and tests, OpenTelemetry for Azure.

Every counter is also recorded on an OpenTelemetry meter, so with Application Insights configured
the same numbers reach Azure Monitor; without it the OpenTelemetry calls are no-ops. Labels are
short, low-cardinality words (a reason code, an event type): never ids or personal data.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

from opentelemetry import metrics as otel_metrics

_meter = otel_metrics.get_meter("portal_integration")
_instruments: dict[str, otel_metrics.Counter] = {}
_values: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
_lock = threading.Lock()


def increment(name: str, amount: int = 1, **labels: str) -> None:
    """Add ``amount`` to the counter ``name`` with these labels."""
    key = (name, tuple(sorted(labels.items())))
    with _lock:
        _values[key] += amount
        instrument = _instruments.get(name)
        if instrument is None:
            instrument = _instruments[name] = _meter.create_counter(name)
    instrument.add(amount, attributes=labels)


def value(name: str, **labels: str) -> int:
    """The sum of ``name`` over every label set that includes ``labels``."""
    wanted = set(labels.items())
    with _lock:
        return sum(v for (n, lbls), v in _values.items() if n == name and wanted <= set(lbls))


def snapshot() -> list[Mapping[str, object]]:
    with _lock:
        return [
            {"name": name, "labels": dict(labels), "value": count}
            for (name, labels), count in sorted(_values.items())
        ]
