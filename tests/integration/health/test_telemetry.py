"""Application Insights' view, through the OpenTelemetry SDK's in-memory exporters: one trace per
event from the webhook through the queue to the processor, the database and Redis calls as its
dependencies, answers tagged with the ATS request or offer they answer, the health gauges."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import SpanKind

from shared import telemetry
from shared.health.instruments import STALE_AFTER, HealthInstruments
from shared.runtime import Runtime
from tests.support import events as ev
from tests.support.pipeline import Pipeline
from tests.support.tracing import recorder


@pytest.fixture
def spans() -> Iterator:
    with recorder().recording() as exporter:
        yield exporter


@pytest.fixture
async def traced_pipeline(spans, portal_environ, webhook_secret, database_url) -> AsyncIterator[Pipeline]:
    """The pipeline with psycopg and redis instrumented before its pools open (as at start)."""
    telemetry.instrument_libraries()
    runtime = await Runtime.from_environ(portal_environ)
    pipe = Pipeline(runtime, webhook_secret, database_url)
    try:
        yield pipe
    finally:
        await pipe.close()
        telemetry.uninstrument_libraries()


def by_trace(finished, trace_id):
    return [s for s in finished if s.context.trace_id == trace_id]


async def test_the_spans_of_one_event_share_one_trace_id(traced_pipeline, spans):
    cand = ev.candidate()
    event = ev.profile_event(cand)
    with telemetry.tracer().start_as_current_span("portal webhook") as webhook:
        answer = await traced_pipeline.post(event)
    assert answer.status == 202
    [queued] = await traced_pipeline.queued()
    trace_id = webhook.get_span_context().trace_id
    assert queued["application_properties"]["traceparent"].split("-")[1] == f"{trace_id:032x}"
    await traced_pipeline.drain()

    finished = spans.get_finished_spans()
    mine = by_trace(finished, trace_id)
    [processing] = [s for s in mine if s.name == "portal-events process"]
    assert processing.kind is SpanKind.CONSUMER
    assert processing.attributes["portal.event_id"] == event["id"]
    assert processing.attributes["portal.outcome"] == "processed"
    assert processing.attributes["messaging.message.id"] == event["id"]
    # the processor's database and Redis calls are dependencies inside the same trace
    database = [s for s in mine if s.attributes.get("db.system") == "postgresql"]
    assert any("INSERT INTO webhook_events" in str(s.attributes.get("db.statement")) for s in database)
    assert all(s.parent is not None for s in database)
    assert [s for s in mine if s.attributes.get("db.system") == "redis"]  # the fast path's mark
    # and nothing of this event is in another trace
    assert not [s for s in finished if s.attributes.get("portal.event_id") == event["id"] and s not in mine]


async def test_a_batch_keeps_each_event_in_its_own_trace_and_links_them(traced_pipeline, spans):
    traces = {}
    for _ in range(3):
        event = ev.profile_event(ev.candidate())
        with telemetry.tracer().start_as_current_span("portal webhook") as webhook:
            assert (await traced_pipeline.post(event)).status == 202
        traces[event["id"]] = webhook.get_span_context().trace_id
    await traced_pipeline.drain()

    finished = spans.get_finished_spans()
    processing = {s.attributes["portal.event_id"]: s for s in finished if s.name == "portal-events process"}
    assert {event_id: s.context.trace_id for event_id, s in processing.items()} == traces
    [batch] = [s for s in finished if s.name == "portal-events batch"]
    assert {link.context.trace_id for link in batch.links} == set(traces.values())
    assert batch.attributes["messaging.batch.message_count"] == 3
    statements = [s for s in finished if s.attributes.get("db.system") == "postgresql"]
    assert any(s.context.trace_id == batch.context.trace_id for s in statements)


async def test_an_answer_is_tagged_with_the_ats_request_it_answers(traced_pipeline, spans):
    cand = ev.candidate()
    request_id = str(uuid.uuid4())
    assert (await traced_pipeline.post(ev.profile_event(cand))).status == 202
    await traced_pipeline.drain()
    answer = ev.interview_event(cand["id"], request_id, created=1)
    assert (await traced_pipeline.post(answer)).status == 202
    offer_id = str(uuid.uuid4())
    assert (await traced_pipeline.post(ev.offer_event(cand["id"], offer_id, created=2))).status == 202
    await traced_pipeline.drain()
    processing = {
        s.attributes["portal.event_id"]: s
        for s in spans.get_finished_spans()
        if s.name == "portal-events process"
    }
    assert processing[answer["id"]].attributes["ats.request_id"] == request_id
    assert [
        s.attributes.get("ats.offer_id") for s in processing.values() if "ats.offer_id" in s.attributes
    ] == [offer_id]


def test_the_host_invocation_context_is_continued(spans):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with telemetry.invocation(parent), telemetry.tracer().start_as_current_span("portal webhook"):
        properties = telemetry.trace_properties()
    assert properties["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    [span] = spans.get_finished_spans()
    assert span.parent.span_id == 0xB7AD6B7169203331
    # devhost passes no trace context: nothing to continue, nothing fails
    with telemetry.invocation_of(object()):
        pass


def test_a_message_without_or_with_a_broken_trace_context_starts_its_own():
    assert telemetry.context_of({}) is None
    assert telemetry.context_of({"traceparent": "not a traceparent"}) is None
    assert telemetry.context_of({"traceparent": b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})


def test_the_health_figures_are_gauges_that_go_stale():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    now = [1000.0]
    instruments = HealthInstruments(provider.get_meter("test"), clock=lambda: now[0])
    instruments.update(
        {
            "events": {
                "5m": {
                    "recorded": 4,
                    "processed": 3,
                    "ignored": 0,
                    "failed": 1,
                    "success_rate": 0.75,
                    "latency_seconds": {"p50": 1.5, "p95": 2.0, "p99": 2.5},
                    "failed_by_reason": {"404": 1},
                }
            },
            "breaker": {"state": "open", "failures": 5, "open_until": None, "changed_at": None},
            "unavailable": {"queues": "DependencyUnavailable"},
        }
    )

    def points():
        data = reader.get_metrics_data()
        found = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        attributes = tuple(sorted((point.attributes or {}).items()))
                        found[(metric.name, attributes)] = getattr(point, "value", None)
        return found

    values = points()
    assert values[("portal_events", (("outcome", "processed"), ("window", "5m")))] == 3
    assert values[("portal_events_success_rate", (("window", "5m"),))] == 0.75
    assert values[("portal_event_latency_seconds", (("quantile", "0.99"), ("window", "5m")))] == 2.5
    assert values[("portal_circuit_open", ())] == 1
    assert values[("portal_source_up", (("source", "queues"),))] == 0
    now[0] += STALE_AFTER + 1  # the timer stopped: no figures rather than frozen ones
    assert points() == {}
    provider.shutdown()
