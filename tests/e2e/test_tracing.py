"""One trace per flow through the real function shells under devhost, read with the OpenTelemetry
SDK's in-memory exporter: a webhook to its processing, an ATS command to its portal call."""

from __future__ import annotations

import json

from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import SpanKind

from shared import telemetry
from shared.messaging import ATS_OUTBOUND, OutboundMessage
from shared.messaging.pg_queue import PgQueueSender
from tests.support import ats
from tests.support import events as ev
from tests.support.tracing import recorder

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ATS_PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def test_a_webhook_and_an_ats_command_each_make_one_trace(start_app):
    HTTPXClientInstrumentor().instrument()
    telemetry.instrument_libraries()
    try:
        with recorder().recording() as spans:
            async with start_app() as app:
                cand = ev.candidate()
                await app.portal.admin.seed_candidate(cand)  # the portal knows them too
                headers, body = ev.signed(app.secret, ev.profile_event(cand))
                assert (
                    await app.http.post("/api/portal/webhooks", content=body, headers=headers)
                ).status_code == 202
                [held] = await app.eventually(
                    lambda: app.rows("SELECT id FROM candidates WHERE portal_candidate_id = %s", cand["id"])
                )
                command = ats.interview_request(str(held["id"]))
                sender = PgQueueSender(app.database_url)
                try:
                    message = OutboundMessage(
                        body=json.dumps(command).encode(),
                        message_id=command["command_id"],
                        application_properties={"traceparent": ATS_PARENT},
                    )
                    await sender.send(ATS_OUTBOUND, [message])
                finally:
                    await sender.close()
                await app.eventually(lambda: app.rows("SELECT 1 FROM sync_queue WHERE status = 'completed'"))
            finished = spans.get_finished_spans()
    finally:
        telemetry.uninstrument_libraries()
        HTTPXClientInstrumentor().uninstrument()

    # the webhook: the shell's span and the processor's span of the event share a trace
    [webhook] = [s for s in finished if s.name == "portal webhook"]
    [processing] = [s for s in finished if s.name == "portal-events process"]
    assert processing.context.trace_id == webhook.context.trace_id
    assert (processing.attributes or {})["portal.outcome"] == "processed"

    # the ATS command: in the ATS's trace, with its ids; the portal call is its descendant
    [handled] = [s for s in finished if s.name == "ats-outbound process"]
    assert f"{handled.context.trace_id:032x}" == TRACE_ID
    attributes = handled.attributes or {}
    assert attributes["ats.command_id"] == command["command_id"]
    assert attributes["ats.request_id"] == command["data"]["request_id"]
    calls = [
        s
        for s in finished
        if s.kind is SpanKind.CLIENT
        and s.context.trace_id == handled.context.trace_id
        and "interview-requests"
        in str((s.attributes or {}).get("url.full") or (s.attributes or {}).get("http.url"))
    ]
    assert calls, "the portal call is not in the command's trace"
