"""Telemetry: Application Insights through OpenTelemetry when a connection string is set.

``host.json`` sets ``telemetryMode: OpenTelemetry``; in that mode the worker's own OpenTelemetry
set-up (here) owns sampling and export. Without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` (local
runs, tests) nothing is exported and logs go to the console only.

What reaches Application Insights, configured once per worker by :func:`configure_telemetry`:

* **dependencies**: httpx calls (the portal, alert posts) and the Azure SDKs through the Azure
  Monitor distro; psycopg 3 and redis calls through their OpenTelemetry instrumentations
  (:func:`instrument_libraries`, which the distro does not cover);
* **metrics**: the in-process counters (:mod:`shared.metrics`) and the health figures as gauges
  (:mod:`shared.health.instruments`, refreshed by the health timer every minute);
* **traces**, one per event from the webhook to the processor: the function shells continue the
  host's invocation context (:func:`invocation`); the receiver puts the W3C trace context of the
  delivery in the queued message's application properties (:func:`trace_properties`:
  ``traceparent``, ``tracestate``, the names Service Bus' own SDK uses); the processor opens
  one span per message as a child of that context (:func:`message_spans`), with the event id,
  its outcome and, for answers to the ATS, ``ats.request_id`` / ``ats.offer_id``, the ids the
  outbound side puts on the command that asked (``sync_dispatcher`` opens an ``ats-outbound
  process`` span per command, in the ATS's trace when its message carries one, with the
  command's ids: its first portal call is a child of it), so the answering webhook is found
  from the request, and back. A re-sent or parked message keeps its properties, so its later attempts
  stay in the same trace.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.queued import QueuedMessage
from shared.settings import setting

log = logging.getLogger(__name__)

#: Share of traces kept in Azure; logs and metrics are not sampled.
TRACE_SAMPLING_RATIO = 0.2

TRACER_NAME = "portal_integration"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_configured = False
_propagator = TraceContextTextMapPropagator()


#: Libraries whose INFO lines are noise here (httpx logs every request URL).
QUIET_LOGGERS = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")


def configure_telemetry() -> bool:
    """Configure Azure Monitor once per worker; True when telemetry export is on."""
    global _configured
    if _configured:
        return True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    connection_string = setting(os.environ, "APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection_string is None:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        sampling_ratio=TRACE_SAMPLING_RATIO,
        logger_name="shared",
    )
    instrument_libraries()
    _configured = True
    log.info("Application Insights export configured (trace sampling %.0f%%)", TRACE_SAMPLING_RATIO * 100)
    return True


def instrument_libraries(tracer_provider: trace.TracerProvider | None = None) -> None:
    """psycopg 3 and redis calls as spans (dependencies in Application Insights).

    Before any pool is opened: the psycopg instrumentation wraps ``connect``, so connections
    opened earlier stay untraced. Statements are recorded as written (named, with parameters,
    never values).
    """
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PsycopgInstrumentor().instrument(tracer_provider=tracer_provider)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)


def uninstrument_libraries() -> None:
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PsycopgInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


# --- across the queue --------------------------------------------------------------------------


def trace_properties() -> dict[str, str]:
    """The current span's W3C trace context as message application properties ({} outside one)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return value if isinstance(value, str) else None


def context_of(properties: Mapping[str, Any]) -> otel_context.Context | None:
    """The trace context a sender put in a message's properties, or None."""
    carrier = {
        name: text for name in (TRACEPARENT, TRACESTATE) if (text := _text(properties.get(name))) is not None
    }
    if TRACEPARENT not in carrier:
        return None
    extracted = _propagator.extract(carrier)
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted


@contextlib.contextmanager
def invocation(trace_parent: str | None, trace_state: str | None = None) -> Iterator[None]:
    """Run within the host's invocation trace (``context.trace_context`` of a function shell).

    The worker attaches it itself only with ``PYTHON_ENABLE_OPENTELEMETRY``, in which case it
    also configures Azure Monitor without our sampling; we configure it here instead.
    """
    extracted = context_of({TRACEPARENT: trace_parent, TRACESTATE: trace_state}) if trace_parent else None
    token = otel_context.attach(extracted) if extracted is not None else None
    try:
        yield
    finally:
        if token is not None:
            otel_context.detach(token)


def invocation_of(function_context: object) -> contextlib.AbstractContextManager[None]:
    """:func:`invocation` for a shell's ``context: func.Context`` (devhost passes no trace context)."""
    trace_context = getattr(function_context, "trace_context", None)
    parent = getattr(trace_context, "trace_parent", None)
    return invocation(parent, getattr(trace_context, "trace_state", None))


@dataclass
class MessageSpans:
    """One span per message of a batch, ended with its outcome by :meth:`end`."""

    spans: dict[str, Span] = field(default_factory=dict)

    def end(self, message: QueuedMessage, outcome: str, **attributes: str) -> None:
        span = self.spans.pop(message.message_id, None)
        if span is None:
            return
        span.set_attribute("portal.outcome", outcome)
        for name, value in attributes.items():
            span.set_attribute(name, value)
        if outcome == "failed":
            span.set_status(Status(StatusCode.ERROR, "event failed"))
        span.end()

    def end_all(self, outcome: str) -> None:
        for span in self.spans.values():
            span.set_attribute("portal.outcome", outcome)
            span.end()
        self.spans.clear()


def command_attributes(body: bytes) -> dict[str, str]:
    """An ATS command's ids as span attributes (``ats.command_id``, ``ats.command_type`` and the
    ``ats.request_id`` / ``ats.offer_id`` the portal's answering webhook carries back); {} for a
    body that is not a command. Never raises: tracing must not fail the flow."""
    try:
        command = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(command, dict):
        return {}
    raw_data = command.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    found = {
        "ats.command_id": command.get("command_id"),
        "ats.command_type": command.get("type"),
        "ats.request_id": data.get("request_id"),
        "ats.offer_id": data.get("offer_id"),
    }
    return {name: value for name, value in found.items() if isinstance(value, str) and len(value) <= 100}


@contextlib.contextmanager
def message_spans(queue: str, messages: Sequence[QueuedMessage]) -> Iterator[MessageSpans]:
    """A batch span (current: the database calls are its children), linked to each message's
    sender, and a span per message in its sender's trace. A batch of one message is that
    message's span, so at light load a whole event is one trace, database calls included."""
    tracer_ = tracer()
    result = MessageSpans()
    contexts = [(message, context_of(message.application_properties)) for message in messages]
    for message, parent in contexts:
        span = tracer_.start_span(
            f"{queue} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "servicebus",
                "messaging.destination.name": queue,
                "messaging.message.id": message.message_id,
                "messaging.message.delivery_count": message.delivery_count,
            },
        )
        result.spans[message.message_id] = span
    try:
        if len(messages) == 1:
            with trace.use_span(result.spans[messages[0].message_id], end_on_exit=False):
                yield result
        else:
            links = [
                Link(trace.get_current_span(parent).get_span_context())
                for _, parent in contexts
                if parent is not None
            ]
            with tracer_.start_as_current_span(
                f"{queue} batch",
                kind=SpanKind.CONSUMER,
                links=links,
                attributes={"messaging.batch.message_count": len(messages)},
            ):
                yield result
    finally:
        result.end_all("unknown")  # whatever the caller did not end (an exception)
