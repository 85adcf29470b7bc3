"""One queued message → what the processor works with: the event, or the outcome it already has.

The receiver validated the event before answering 202, so an invalid message here means it got
onto the queue some other way (a resubmitted dead letter, a hand-sent message, an older
version's validator): it is recorded ``failed`` with the fields at fault, never values. An
unknown event type is ``ignored`` and kept. Anything unexpected while reading one message (a
bug in a transform, say) fails that message alone, with the exception's type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from shared.contract.envelope import (
    ConsentMissing,
    MalformedDelivery,
    decode_json_object,
    validate_envelope_object,
)
from shared.contract.events import UnknownEvent
from shared.errors import FieldError, ValidationFailed
from shared.inbound.changes import InboundEvent
from shared.inbound.transform import to_change
from shared.outcomes import Failed, Ignored
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, ORIGINAL_MESSAGE_ID

log = logging.getLogger(__name__)

#: Application property set by the receiver: when it accepted the delivery.
RECEIVED_AT = "received_at"
#: What ``webhook_events.payload`` holds when the body may not or cannot be kept.
NO_PAYLOAD = "{}"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A message read: ``event`` to decide, or ``settled`` already (failed or ignored)."""

    message: QueuedMessage
    event_id: str
    event_type: str
    received_at: datetime
    attempts: int
    payload: str  # the JSON text stored in webhook_events.payload
    event: InboundEvent | None = None
    settled: Failed | Ignored | None = None

    @property
    def portal_candidate_id(self) -> str | None:
        return self.event.change.portal_candidate_id if self.event and self.event.change else None


def fields_of(errors: tuple[FieldError, ...]) -> str:
    return ", ".join(sorted({error.field for error in errors})) or "-"


def decode(message: QueuedMessage, *, portal_base_url: str, now: datetime) -> Decoded:
    """Read one message; never raises."""
    original_id = message.property_str(ORIGINAL_MESSAGE_ID) or message.message_id
    attempts = int(message.property_str(ATTEMPT) or 1)
    received_at = _received_at(message, now)
    try:
        obj = decode_json_object(message.body)
    except MalformedDelivery:
        return Decoded(
            message,
            original_id,
            "unknown",
            received_at,
            attempts,
            NO_PAYLOAD,
            settled=Failed("the message body is not a JSON object"),
        )
    event_id = obj["id"] if isinstance(obj.get("id"), str) else original_id
    event_type = obj["type"] if isinstance(obj.get("type"), str) else "unknown"
    base = Decoded(message, event_id, event_type, received_at, attempts, message.body.decode("utf-8"))
    try:
        envelope, data = validate_envelope_object(obj, portal_base_url=portal_base_url, raw=message.body)
    except MalformedDelivery as exc:
        failed = Failed(f"malformed event ({exc.reason.value}): {fields_of(exc.errors)}")
        return _settle(base, failed, keep_payload=not exc.refused_by_jsonb)
    except ConsentMissing as exc:  # a profile without consent is never stored, not even failed
        return _settle(
            base, Failed(f"event data failed validation: {fields_of(exc.errors)}"), keep_payload=False
        )
    except ValidationFailed as exc:
        failed = Failed(f"event data failed validation: {fields_of(exc.errors)}")
        return _settle(base, failed, keep_payload=not getattr(exc, "refused_by_jsonb", False))
    except Exception as exc:  # a bug in validation must fail this message, not its batch
        log.exception("reading event %s raised %s", event_id, type(exc).__name__)
        return _settle(base, Failed(f"{type(exc).__name__} while validating the event"))
    if isinstance(data, UnknownEvent) or envelope.event_type is None:
        return _settle(base, Ignored(f"unknown event type {event_type[:100]!r}: kept, not applied"))
    try:
        change = to_change(envelope.event_type, data, obj["data"])
    except Exception as exc:  # a bug in a transform: this message fails, its batch goes on
        log.exception("transforming event %s raised %s", event_id, type(exc).__name__)
        return _settle(base, Failed(f"{type(exc).__name__} while transforming the event"))
    event = InboundEvent(
        event_id=envelope.id,
        event_type=envelope.type,
        created_at=envelope.created_at,
        received_at=received_at,
        payload=obj,
        change=change,
    )
    return Decoded(message, event_id, event_type, received_at, attempts, base.payload, event=event)


def _settle(decoded: Decoded, outcome: Failed | Ignored, *, keep_payload: bool = True) -> Decoded:
    """``decoded`` with its outcome; without its payload when it must not or cannot be stored
    (a missing consent; a body PostgreSQL's jsonb refuses, whose failure would otherwise cost
    the batch its fast path)."""
    return replace(decoded, settled=outcome, payload=decoded.payload if keep_payload else NO_PAYLOAD)


def _received_at(message: QueuedMessage, now: datetime) -> datetime:
    raw = message.property_str(RECEIVED_AT)
    if raw:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    return message.enqueued_time or now
