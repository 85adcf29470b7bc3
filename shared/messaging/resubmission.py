"""How a message an operator puts back on its queue is built: one rule for every source.

A dead letter (Service Bus's ``QUEUE/$deadletterqueue``, or devhost's table) and a parked
message (``parked_messages``) go back to their queue the same way:

* the body and content type as they were;
* the application properties as they were, minus the retry counters of
  :mod:`shared.redelivery` (``attempt``, ``first_attempt_at``, ``original_message_id``) and
  Service Bus's own dead-letter properties: the message starts afresh, with a new backoff and a
  new 24 hours before it could be parked again; ``resubmitted_from`` names the message it
  replaces, so a log line or a queue listing leads back to it;
* ``message_id`` = ``{original}:resubmit{n}``, where ``original`` is the id without any
  ``:r{attempt}`` re-send suffix or earlier ``:resubmit{k}``, and ``n`` is one more than ``k``
  (1 the first time). Duplicate detection (10 minutes on ``message_id``) would drop a message
  sent under its original id, and it may have been sent minutes ago. The id is derived, not
  random, on purpose: an operator who runs the same resubmit twice (a crash between the send
  and the removal of the dead letter, or two operators at once) sends the same id twice, and
  the queue drops the second copy; after the window, the processors' idempotency (the event id
  in the body, ``webhook_events.event_id`` UNIQUE) absorbs it.

The processors never read the suffix: the event id comes from the body (and, for a body
without one, from the id before ``:r``, which ``:resubmit`` keeps).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from shared.messaging.port import OutboundMessage, PropertyValue
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT, ORIGINAL_MESSAGE_ID

#: Application property naming the message a resubmitted one replaces.
RESUBMITTED_FROM = "resubmitted_from"

#: Properties a resubmitted message does not carry over: the retry counters, and what Service
#: Bus adds to a dead letter (the SDK shows them as application properties).
DROPPED_PROPERTIES = frozenset(
    {ATTEMPT, FIRST_ATTEMPT_AT, ORIGINAL_MESSAGE_ID, "DeadLetterReason", "DeadLetterErrorDescription"}
)

_RESEND_SUFFIX = re.compile(r":r\d+$")
_RESUBMIT_SUFFIX = re.compile(r":resubmit(\d+)$")

Source = Literal["dead-letter", "parked"]


@dataclass(frozen=True, slots=True)
class Resubmitted:
    """One message put back on ``queue``: where it came from, its old and its new id."""

    source: Source
    queue: str
    message_id: str
    new_message_id: str


def resubmit_id(message_id: str, taken: Collection[str] = ()) -> str:
    """``{original}:resubmit{n}`` for ``message_id`` (module docstring), skipping ``taken`` ids.

    ``taken``: ids already chosen in the same run, so two dead letters that share a
    ``message_id`` (the same message dead-lettered twice) do not both get one id, which
    duplicate detection would turn into one message.
    """
    original = _RESEND_SUFFIX.sub("", message_id)
    earlier = _RESUBMIT_SUFFIX.search(original)
    count = int(earlier[1]) if earlier else 0
    original = original[: earlier.start()] if earlier else original
    candidate = f"{original}:resubmit{count + 1}"
    while candidate in taken:
        count += 1
        candidate = f"{original}:resubmit{count + 1}"
    return candidate


def resubmission(
    message_id: str,
    body: bytes,
    *,
    application_properties: Mapping[str, PropertyValue],
    content_type: str | None,
    taken: Collection[str] = (),
) -> OutboundMessage:
    """The message that puts ``message_id`` back on its queue (module docstring)."""
    properties = {k: v for k, v in application_properties.items() if k not in DROPPED_PROPERTIES}
    properties[RESUBMITTED_FROM] = message_id
    return OutboundMessage(
        body=body,
        message_id=resubmit_id(message_id, taken),
        application_properties=properties,
        content_type=content_type or "application/json",
    )
