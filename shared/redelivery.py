"""Backing off without sleeping: re-send a message to its own queue, scheduled for later.

DESIGN.md: a queue-triggered function whose dependency is transiently unreachable re-sends the
message scheduled after 1 s, 2 s, 4 s … capped at 5 min, with the attempt count in an
application property and ``message_id = {original}:r{attempt}`` so duplicate detection does not
drop it, and completes the original; only if that send fails does it raise (the host then
abandons and Service Bus redelivers). A dependency's ``Retry-After``, or the open circuit
breaker's remaining time, lengthens the delay (still capped at 5 min): retrying sooner would
only fail again. After 24 h of attempts the message is parked in ``parked_messages`` with the
reason, an alert is raised, and it is completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared import metrics
from shared.messaging import MessageSender, OutboundMessage
from shared.queued import QueuedMessage

#: Application properties carried by re-sent messages.
ATTEMPT = "attempt"
FIRST_ATTEMPT_AT = "first_attempt_at"
ORIGINAL_MESSAGE_ID = "original_message_id"

MAX_DELAY = timedelta(minutes=5)
GIVE_UP_AFTER = timedelta(hours=24)


def backoff_delay(attempt: int) -> timedelta:
    """Delay before attempt ``attempt + 1``: 1 s, 2 s, 4 s … doubling, capped at 5 minutes."""
    return min(timedelta(seconds=2 ** max(attempt - 1, 0)), MAX_DELAY)


class RetryDecision(StrEnum):
    RESCHEDULED = "rescheduled"
    PARK = "park"


@dataclass(frozen=True, slots=True)
class RetryPlan:
    decision: RetryDecision
    attempt: int
    first_attempt_at: datetime
    message: OutboundMessage | None = None


def retry_delay(attempt: int, not_before: float | None = None) -> timedelta:
    """The backoff of ``attempt``, or ``not_before`` seconds when longer; capped at 5 minutes."""
    floor = timedelta(seconds=not_before) if not_before is not None and not_before > 0 else timedelta(0)
    return min(max(backoff_delay(attempt), floor), MAX_DELAY)


def plan_retry(
    message: QueuedMessage,
    *,
    now: datetime,
    not_before: float | None = None,
    park_after: timedelta | None = GIVE_UP_AFTER,
) -> RetryPlan:
    """What to do with a message whose handling failed transiently (pure: tests drive ``now``).

    ``not_before``: seconds the dependency asked us to wait (``Retry-After``, the breaker's
    remaining cool-down), when known. ``park_after``: ``None`` never parks (a message whose
    parking itself failed keeps coming back until it can be parked).
    """
    attempt = int(message.property_str(ATTEMPT) or "1")
    first_raw = message.property_str(FIRST_ATTEMPT_AT)
    first = datetime.fromisoformat(first_raw) if first_raw else (message.enqueued_time or now)
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    if park_after is not None and now - first >= park_after:
        return RetryPlan(RetryDecision.PARK, attempt, first)
    original = message.property_str(ORIGINAL_MESSAGE_ID) or message.message_id
    properties = dict(message.application_properties)
    properties.update(
        {ATTEMPT: attempt + 1, FIRST_ATTEMPT_AT: first.isoformat(), ORIGINAL_MESSAGE_ID: original}
    )
    resend = OutboundMessage(
        body=message.body,
        message_id=f"{original}:r{attempt}",
        scheduled_enqueue_time=now + retry_delay(attempt, not_before),
        application_properties=properties,
    )
    return RetryPlan(RetryDecision.RESCHEDULED, attempt, first, resend)


async def reschedule(
    sender: MessageSender,
    queue: str,
    messages: list[QueuedMessage],
    *,
    now: datetime,
    not_before: float | None = None,
    park_after: timedelta | None = GIVE_UP_AFTER,
) -> list[QueuedMessage]:
    """Re-send each message for a later attempt; return those that must be parked instead.

    Raises whatever the sender raises: the caller lets it propagate so the host abandons the
    originals and Service Bus redelivers them (nothing is lost).
    """
    to_park: list[QueuedMessage] = []
    resend: list[OutboundMessage] = []
    for message in messages:
        plan = plan_retry(message, now=now, not_before=not_before, park_after=park_after)
        if plan.decision is RetryDecision.PARK:
            to_park.append(message)
        else:
            assert plan.message is not None
            resend.append(plan.message)
    if resend:
        await sender.send(queue, resend)
        metrics.increment("messages_rescheduled", len(resend), queue=queue)
    return to_park
