"""Acting on :class:`~shared.outcomes.RetryLater` for the document queues (DESIGN.md's re-send).

The message is re-sent to its own queue after the backoff (``shared.redelivery``); after 24 h of
attempts it is parked in ``parked_messages`` with the reason and an alert. If the re-send itself
fails the error propagates: the host abandons the message and Service Bus redelivers it, so
nothing is lost.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared.alerts import AlertSink
from shared.db import transaction
from shared.documents import store
from shared.messaging import MessageSender
from shared.outcomes import RetryLater
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, reschedule

log = logging.getLogger(__name__)

PARK_REASON = "transient failures for 24 hours"


def _json_or_size(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {"undecodable_body_bytes": len(body)}


async def retry_or_park(
    *,
    db: AsyncConnectionPool,
    sender: MessageSender,
    alerter: AlertSink,
    queue: str,
    message: QueuedMessage,
    outcome: RetryLater,
    now: datetime,
) -> bool:
    """Re-send ``message`` for later, or park it after 24 h; True when it was parked."""
    to_park = await reschedule(sender, queue, [message], now=now, not_before=outcome.not_before)
    if not to_park:
        return False
    reason = f"{PARK_REASON}; last: {outcome.reason}"
    async with transaction(db) as conn:
        await conn.execute(
            store.PARK,
            {
                "queue": queue,
                "message_id": message.message_id,
                "body": Jsonb(_json_or_size(message.body)),
                "reason": reason,
                "attempts": int(message.property_str(ATTEMPT) or 1),
            },
        )
    await alerter.raise_alert("document_parked", queue, f"message {message.message_id} parked: {reason}")
    return True
