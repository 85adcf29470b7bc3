"""Acting on :class:`~shared.outcomes.RetryLater` for the document queues (DESIGN.md's re-send).

The message is re-sent to its own queue after the backoff (``shared.redelivery``); after 24 h of
attempts it is parked in ``parked_messages`` (``shared.parked``: the body and application
properties as they were, so ``ops dead-letters resubmit`` puts it back) with the reason and an
alert. If the re-send itself fails the error propagates: the host abandons the message and
Service Bus redelivers it, so nothing is lost.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from shared.alerts import AlertSink
from shared.db import transaction
from shared.messaging import MessageSender
from shared.outcomes import STATUS, Outcome, RetryLater
from shared.parked import PARK, park_parameters
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, reschedule

log = logging.getLogger(__name__)

PARK_REASON = "transient failures for 24 hours"


def outcome_word(outcome: Outcome) -> str:
    """How an outcome is counted and logged: its status word, or ``rescheduled``."""
    return STATUS.get(type(outcome), "rescheduled")


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        return False
    return True


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
    attempts = int(message.property_str(ATTEMPT) or 1)
    async with transaction(db) as conn:
        await conn.execute(
            PARK, park_parameters(queue, message, reason, attempts, as_base64=not _is_json(message.body))
        )
    await alerter.raise_alert("document_parked", queue, f"message {message.message_id} parked: {reason}")
    return True
