"""``parked_messages``: what 24 hours of transient failures left for an operator.

A queue flow parks a message (DESIGN.md) when its dependency stayed unreachable for 24 h: the
row keeps the queue, the ``message_id`` it had then, the body (jsonb), the reason and the
attempt count, and an alert was raised. Once the cause is fixed the operator resubmits it:

* the body goes back to its queue as it was stored (``body::text``, so numbers keep every
  digit), with the application properties it was parked with (``received_at`` included, so
  the event keeps the time it was first received), under the id and properties of
  :mod:`shared.messaging.resubmission` (retry counters dropped). A body PostgreSQL could not
  store as JSON was parked as ``{"body_base64": "..."}`` (its bytes, never lost): it goes back
  as those original bytes;
* **send first, then delete**: each row is locked (``FOR UPDATE SKIP LOCKED``, so two operators
  never take the same row), its message is sent and confirmed, then the row is deleted, and
  that commits: one transaction per row, so a failure stops the run with the rows not yet
  sent still parked. The row is deleted rather than marked: the table lists what waits for an
  operator, and the resubmitted message (``resubmitted_from``) and the event's own record carry
  the history. The send and the delete cannot be one unit (the queue is another service), so a
  crash between them leaves the row parked with its copy on the queue; resubmitting it again
  sends the same id (duplicate detection drops it within 10 minutes) and otherwise the
  processor's idempotency absorbs the copy (``webhook_events.event_id`` UNIQUE).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.messaging.port import MessageSender
from shared.messaging.resubmission import Resubmitted, resubmission
from shared.queued import QueuedMessage

_COLUMNS = (
    "id, queue, message_id, convert_to(body::text, 'UTF8') AS body, application_properties, reason, "
    "attempts, parked_at"
)

LIST = f"""
SELECT {_COLUMNS} FROM parked_messages
WHERE queue = %(queue)s AND (%(every)s OR message_id = ANY(%(message_ids)s))
ORDER BY id
LIMIT %(limit)s
"""  # noqa: S608 (only module constants are interpolated)

TAKE = f"SELECT {_COLUMNS} FROM parked_messages WHERE id = %(id)s FOR UPDATE SKIP LOCKED"  # noqa: S608

DELETE = "DELETE FROM parked_messages WHERE id = %(id)s"


#: The wrapper a queue flow parks a body under when PostgreSQL cannot store it as JSON
#: (not UTF-8, not JSON, or refused): ``{"body_base64": "<the bytes as sent>"}``.
BASE64_KEY = "body_base64"

PARK = """
INSERT INTO parked_messages (queue, message_id, body, application_properties, reason, attempts)
VALUES (%(queue)s, %(message_id)s, %(body)s::jsonb, %(properties)s, %(reason)s, %(attempts)s)
ON CONFLICT (queue, message_id) DO NOTHING
"""


def park_parameters(
    queue: str, message: QueuedMessage, reason: str, attempts: int, *, as_base64: bool
) -> dict[str, Any]:
    """The row of one message to park: its body as sent, or (``as_base64``, when PostgreSQL
    refused it) its bytes under :data:`BASE64_KEY`; its application properties as they were."""
    body = (
        json.dumps({BASE64_KEY: base64.b64encode(message.body).decode("ascii")})
        if as_base64
        else message.body.decode("utf-8")
    )
    properties = {
        name: value.decode() if isinstance(value, bytes) else value
        for name, value in message.application_properties.items()
    }
    return {
        "queue": queue,
        "message_id": message.message_id,
        "body": body,
        "properties": Jsonb(properties, dumps=lambda v: json.dumps(v, default=str)),
        "reason": reason,
        "attempts": attempts,
    }


def original_body(stored: bytes) -> bytes:
    """The bytes the message had when it was parked: the stored JSON as it is, or the bytes
    inside a :data:`BASE64_KEY` wrapper (no event is such an object: it has an id and a type)."""
    try:
        value = json.loads(stored)
    except ValueError:
        return stored
    if isinstance(value, dict) and set(value) == {BASE64_KEY} and isinstance(value[BASE64_KEY], str):
        try:
            return base64.b64decode(value[BASE64_KEY], validate=True)
        except binascii.Error:
            return stored
    return stored


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    id: int
    queue: str
    message_id: str
    body: bytes
    application_properties: dict[str, Any]
    reason: str
    attempts: int
    parked_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ParkedMessage:
        return cls(**{**row, "body": bytes(row["body"])})


async def list_parked(
    conn: AsyncConnection[Any],
    queue: str,
    *,
    message_ids: Collection[str] | None = None,
    limit: int | None = None,
) -> list[ParkedMessage]:
    """The parked messages of ``queue`` (those with ``message_ids``, when given), oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            LIST,
            {
                "queue": queue,
                "every": message_ids is None,
                "message_ids": sorted(message_ids or ()),
                "limit": limit,
            },
        )
        return [ParkedMessage.from_row(row) for row in await cur.fetchall()]


async def resubmit_parked(
    conn: AsyncConnection[Any],
    sender: MessageSender,
    queue: str,
    message_ids: Collection[str] | None = None,
) -> list[Resubmitted]:
    """Send the parked messages of ``queue`` back to it, one row at a time (module docstring).

    ``conn`` must not be inside a transaction: each row gets its own. Raises what the sender
    raises (:class:`DependencyUnavailable`, :class:`MessageTooLarge`); rows resubmitted before
    stay resubmitted, the current and later ones stay parked.
    """
    done: list[Resubmitted] = []
    for candidate in await list_parked(conn, queue, message_ids=message_ids):
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(TAKE, {"id": candidate.id})
            row = await cur.fetchone()
            if row is None:
                continue  # resubmitted by someone else meanwhile (deleted, or locked by them)
            parked = ParkedMessage.from_row(row)
            message = resubmission(
                parked.message_id,
                original_body(parked.body),
                application_properties=parked.application_properties,
                content_type="application/json",
                taken={r.new_message_id for r in done},
            )
            await sender.send(queue, [message])
            await cur.execute(DELETE, {"id": parked.id})
        done.append(Resubmitted("parked", queue, parked.message_id, message.message_id))
    return done
