"""An event's record, as the processor writes it: the ``webhook_events`` row, its final status,
and the ``portal_activity_log`` row, built from what became of each message.

Kept apart from the processor's steps so that they read as steps; the statements are
:mod:`shared.inbound.store`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.contract.events import EventType
from shared.inbound.decode import Decoded
from shared.outcomes import STATUS, Failed, Ignored, Outcome, Processed, RetryLater


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The event was recorded before (a redelivery or a repeat): nothing more to do."""


Result = Outcome | Duplicate

WORDS: dict[type[Result], str] = {
    Processed: STATUS[Processed],
    Ignored: STATUS[Ignored],
    Failed: STATUS[Failed],
    Duplicate: "duplicate",
    RetryLater: "rescheduled",
}


def status_of(item: Decoded) -> str:
    return STATUS[type(item.settled)] if item.settled is not None else "processed"


def record_params(
    item: Decoded, status: str, *, payload: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    return {
        "event_type": item.event_type,
        "event_id": item.event_id,
        "payload": item.payload if payload is None else payload,
        "status": status,
        "attempts": item.attempts,
        "last_error": reason if reason is not None else reason_of(item.settled),
        "received_at": item.received_at,
        "portal_candidate_id": item.portal_candidate_id,
    }


#: RECORD_EVENTS' arrays, in its order.
RECORD_FIELDS = (
    "event_type",
    "event_id",
    "payload",
    "status",
    "attempts",
    "last_error",
    "received_at",
    "portal_candidate_id",
)


def record_columns(items: list[Decoded]) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in RECORD_FIELDS]
    for item in sorted(items, key=lambda i: i.event_id):
        params = record_params(item, status_of(item))
        for column, name in zip(columns, RECORD_FIELDS, strict=True):
            column.append(params[name])
    return columns


def reason_of(outcome: Result | None) -> str | None:
    return outcome.reason if isinstance(outcome, (Failed, Ignored, RetryLater)) else None


def settle_columns(items: list[Decoded], results: dict[str, Result]) -> list[list[Any]]:
    rows = [
        (item.event_id, WORDS[type(results[item.event_id])], reason_of(results[item.event_id]))
        for item in items
    ]
    return [list(column) for column in zip(*rows, strict=True)]


def activity_columns(items: list[Decoded], results: dict[str, Result]) -> list[list[Any]]:
    rows = [
        (
            item.event_type if _known_type(item.event_type) else "unknown",
            item.portal_candidate_id,
            WORDS[type(results[item.event_id])],
            reason_of(results[item.event_id]),
        )
        for item in items
        if item.event_id in results
    ]
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[], [], [], []]


def _known_type(event_type: str) -> bool:
    return event_type in EventType._value2member_map_
