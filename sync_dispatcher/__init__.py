"""sync_dispatcher: ATS commands from ``ats-outbound`` to the portal's REST API.

Two thin shells over :class:`shared.outbound.dispatcher.SyncDispatcher`:

* the queue trigger takes one message at a time (``cardinality="one"``), so the host renews
  each message's lock while its first portal call runs; the core records every command in
  ``sync_queue`` and never raises for a command's content;
* the timer (``%SYNC_REPLAY_SCHEDULE%``, a required setting: the host resolves it only from
  settings) replays due rows; the host never overlaps two runs of one timer, and a run claims no
  new work once its interval is spent.
"""

import logging

import azure.functions as func

from shared.errors import DependencyUnavailable
from shared.messaging import ATS_OUTBOUND
from shared.queued import QueuedMessage
from shared.runtime import get_runtime
from shared.telemetry import command_attributes, invocation_of, message_spans

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="ats-outbound", connection="ServiceBusConnection", cardinality="one"
)
async def dispatch_ats_command(message: func.ServiceBusMessage, context: func.Context) -> None:
    runtime = await get_runtime()
    queued = QueuedMessage.from_service_bus(message)
    # Tracing (shared/telemetry.py): the command's span, in the ATS's trace when its message
    # carries one; the first portal call is its child, the answering webhook shares its ids.
    with invocation_of(context), message_spans(ATS_OUTBOUND, [queued]) as spans:
        outcome = await runtime.dispatcher.handle(queued)
        spans.end(queued, type(outcome).__name__.lower(), **command_attributes(queued.body))


@bp.timer_trigger(
    arg_name="timer", schedule="%SYNC_REPLAY_SCHEDULE%", run_on_startup=False, use_monitor=False
)
async def replay_sync_queue(timer: func.TimerRequest) -> None:
    runtime = await get_runtime()
    try:
        report = await runtime.dispatcher.replay(budget_seconds=runtime.replay_budget_seconds)
    except DependencyUnavailable as exc:
        log.warning("sync replay skipped: %s", exc)
        return
    if report.claimed:
        log.info(
            "sync replay: %d claimed, %d completed, %d retrying, %d failed, %d deferred",
            report.claimed,
            report.completed,
            report.retried,
            report.failed,
            report.deferred,
        )
