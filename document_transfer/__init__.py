"""document_transfer: candidates' documents from the portal into Blob Storage, then verified.

Thin shells over :mod:`shared.documents`: one message at a time per invocation (a document can
be tens of megabytes; ``host.json``'s ``maxConcurrentCalls`` bounds how many run at once). The
core ends every message in one outcome and never raises for a document's fault or a dependency
that is down (it records the failure, or re-sends the message with a backoff); what it does
raise is a bug, or a re-send that failed, which the host abandons and Service Bus redelivers.
"""

import azure.functions as func

from shared.queued import QueuedMessage
from shared.runtime import get_runtime

bp = func.Blueprint()


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="document-transfers", connection="ServiceBusConnection"
)
async def transfer_document(message: func.ServiceBusMessage) -> None:
    runtime = await get_runtime()
    await runtime.document_transfer.handle(QueuedMessage.from_service_bus(message))


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="document-verification", connection="ServiceBusConnection"
)
async def verify_document(message: func.ServiceBusMessage) -> None:
    runtime = await get_runtime()
    await runtime.document_verification.handle(QueuedMessage.from_service_bus(message))
