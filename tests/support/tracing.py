"""The OpenTelemetry SDK's in-memory exporters, installed once per test process.

OpenTelemetry allows one global tracer provider per process, so the first test that asks for
spans installs it; spans are kept only while a test records (:meth:`Recorder.recording`), so the
rest of the run does not accumulate them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self._inner = SimpleSpanProcessor(self.exporter)
        self.active = False

    def on_start(self, span, parent_context=None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self.active:
            self._inner.on_end(span)

    @contextlib.contextmanager
    def recording(self) -> Iterator[InMemorySpanExporter]:
        self.exporter.clear()
        self.active = True
        try:
            yield self.exporter
        finally:
            self.active = False
            self.exporter.clear()


_lock = threading.Lock()
_recorder: Recorder | None = None


def recorder() -> Recorder:
    global _recorder
    with _lock:
        if _recorder is None:
            provider = TracerProvider()
            _recorder = Recorder()
            provider.add_span_processor(_recorder)
            trace.set_tracer_provider(provider)
            if trace.get_tracer_provider() is not provider:
                raise RuntimeError("another tracer provider was installed first in this test process")
        return _recorder
