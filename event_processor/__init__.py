"""event_processor: batches of portal events from ``portal-events`` into the ATS database.

A thin shell: translate the Service Bus messages, call the core. The core never raises for a
bad event (it records it ``failed``) nor for a dependency that is down (it re-sends the message
with a backoff); what it does raise is a bug, which the host abandons and finally dead-letters.
"""

import logging
import typing

import azure.functions as func

from shared import outbox
from shared.errors import DependencyUnavailable
from shared.queued import QueuedMessage
from shared.runtime import get_runtime
from shared.telemetry import invocation_of

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.service_bus_queue_trigger(
    arg_name="messages", queue_name="portal-events", connection="ServiceBusConnection", cardinality="many"
)
async def process_portal_events(
    # typing.List, not list[...]: the Azure Functions Python worker refuses a PEP 585 alias as
    # "invalid non-type annotation" and then loads no function of the app (DESIGN.md).
    messages: typing.List[func.ServiceBusMessage],  # noqa: UP006
    context: func.Context,
) -> None:
    runtime = await get_runtime()
    with invocation_of(context):  # the batch under the host's invocation; each event in its own trace
        await runtime.processor.process([QueuedMessage.from_service_bus(message) for message in messages])


@bp.timer_trigger(arg_name="timer", schedule="*/10 * * * * *", run_on_startup=False, use_monitor=False)
async def relay_outbox(timer: func.TimerRequest) -> None:
    """Send what a crash between commit and send left in the outbox."""
    runtime = await get_runtime()
    try:
        sent = await outbox.flush(runtime.db, runtime.sender)
    except DependencyUnavailable as exc:
        log.warning("outbox relay skipped: %s", exc)
        return
    if sent:
        log.info("outbox relay sent %d messages", sent)
