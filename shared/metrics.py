"""Counters the app keeps about itself: in-process for /metrics and tests, OpenTelemetry for Azure.

Every counter is also recorded on an OpenTelemetry meter, so with Application Insights configured
the same numbers reach Azure Monitor; without it the OpenTelemetry calls are no-ops. Labels are
short, low-cardinality words (a reason code, an event type): never ids or personal data.

Listeners (:func:`subscribe`) see every increment as it happens: that is how the counts with no
database row of their own (duplicates, 401s, 413s) reach Redis, shared by every instance
(:mod:`shared.health.counts`), without the code that counts knowing about it.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping

from opentelemetry import metrics as otel_metrics

_meter = otel_metrics.get_meter("portal_integration")
_instruments: dict[str, otel_metrics.Counter] = {}
_values: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
_lock = threading.Lock()
_log = logging.getLogger(__name__)

#: ``listener(name, amount, labels)``: called after each increment; must be quick and not raise.
Listener = Callable[[str, int, Mapping[str, str]], None]
_listeners: dict[str, Listener] = {}


def increment(name: str, amount: int = 1, **labels: str) -> None:
    """Add ``amount`` to the counter ``name`` with these labels."""
    key = (name, tuple(sorted(labels.items())))
    with _lock:
        _values[key] += amount
        instrument = _instruments.get(name)
        if instrument is None:
            instrument = _instruments[name] = _meter.create_counter(name)
    instrument.add(amount, attributes=labels)
    for listener in tuple(_listeners.values()):
        try:
            listener(name, amount, labels)
        except Exception:  # counting must never fail the flow that counts
            _log.warning("metrics listener failed on %s", name, exc_info=True)


def subscribe(key: str, listener: Listener) -> Callable[[], None]:
    """Call ``listener`` on every increment; returns the function that unsubscribes it.

    One listener per ``key``: a second subscription under the same key replaces the first (two
    runtimes of one process writing to the same Redis prefix must not count twice).
    """
    with _lock:
        _listeners[key] = listener

    def unsubscribe() -> None:
        with _lock:
            if _listeners.get(key) is listener:
                del _listeners[key]

    return unsubscribe


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
