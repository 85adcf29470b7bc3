"""The health metrics as OpenTelemetry gauges, for Application Insights (``customMetrics``).

The health timer computes the metrics every minute (:mod:`shared.health.watch`) and hands the
document to :meth:`HealthInstruments.update`; each observable gauge reports the latest one's
samples (:mod:`shared.health.samples`) when the SDK collects. A document older than
:data:`STALE_AFTER` reports nothing, so a stopped timer shows as missing data, not as frozen
figures. Without Application Insights the meter is OpenTelemetry's no-op and nothing is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, Observation

from shared.health.samples import HELP, PREFIX, samples

STALE_AFTER = 300.0


class HealthInstruments:
    def __init__(self, meter: otel_metrics.Meter, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_name: dict[str, list[Observation]] = {}
        self._updated_at: float | None = None
        for name, description in HELP.items():
            meter.create_observable_gauge(
                PREFIX + name, callbacks=[self._callback(name)], description=description
            )

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                if self._updated_at is None or self._clock() - self._updated_at > STALE_AFTER:
                    return []
                return list(self._by_name.get(name, []))

        return observe

    def update(self, metrics: Mapping[str, Any]) -> None:
        by_name: dict[str, list[Observation]] = {}
        for sample in samples(metrics):
            by_name.setdefault(sample.name, []).append(Observation(sample.value, dict(sample.labels)))
        with self._lock:
            self._by_name = by_name
            self._updated_at = self._clock()


_shared: HealthInstruments | None = None
_shared_lock = threading.Lock()


def shared_instruments() -> HealthInstruments:
    """The process's gauges on the global meter (created once: instruments are per process)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = HealthInstruments(otel_metrics.get_meter("portal_integration.health"))
        return _shared
