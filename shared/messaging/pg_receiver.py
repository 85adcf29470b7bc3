"""The receiving side of the PostgreSQL queues: peek-lock, settlement and dead letters.

The devhost uses this to feed Service Bus triggers with the semantics the flows rely on:

* :meth:`PgQueueReceiver.receive` locks up to N visible messages (``FOR UPDATE SKIP LOCKED``,
  so concurrent consumers never get the same message), gives each a fresh lock token and a
  ``locked_until``, and increments ``delivery_count`` (1 on the first receive). A message whose
  lock expires becomes visible again; a message that has already been delivered
  ``max_delivery_count`` times is dead-lettered instead of delivered again.
* :meth:`renew_lock`, :meth:`complete`, :meth:`abandon` and :meth:`dead_letter` act only while
  the caller still holds the lock token; they return ``False`` when the lock was lost (the
  message was taken again by someone else), as Service Bus raises ``MessageLockLostError``.
* Dead letters live on the queue ``{queue}/$deadletterqueue`` with their reason and
  description; :meth:`resubmit` puts one back on its source queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_schema import DEAD_LETTER_SUFFIX, NOTIFY_CHANNEL
from shared.messaging.port import PropertyValue

#: Reason Service Bus gives a message that was delivered ``MaxDeliveryCount`` times.
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"

#: Service Bus's default ``MaxDeliveryCount``.
DEFAULT_MAX_DELIVERY_COUNT = 10

_COLUMNS = """sequence_number, queue, message_id, body, content_type, application_properties,
    enqueued_at, scheduled_enqueue_time, delivery_count, lock_token, locked_until,
    dead_letter_source, dead_letter_reason, dead_letter_description, dead_lettered_at"""


def dead_letter_queue(queue: str) -> str:
    """The name of ``queue``'s dead-letter queue."""
    return queue + DEAD_LETTER_SUFFIX


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message as stored; ``lock_token`` and ``locked_until`` are set while it is locked."""

    sequence_number: int
    queue: str
    message_id: str
    body: bytes
    content_type: str | None
    application_properties: dict[str, PropertyValue]
    enqueued_time: datetime
    scheduled_enqueue_time: datetime | None
    delivery_count: int
    lock_token: uuid.UUID | None
    locked_until: datetime | None
    dead_letter_source: str | None = None
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None
    dead_lettered_at: datetime | None = field(default=None)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReceivedMessage:
        return cls(
            sequence_number=row["sequence_number"],
            queue=row["queue"],
            message_id=row["message_id"],
            body=bytes(row["body"]),
            content_type=row["content_type"],
            application_properties=dict(row["application_properties"]),
            enqueued_time=row["enqueued_at"],
            scheduled_enqueue_time=row["scheduled_enqueue_time"],
            delivery_count=row["delivery_count"],
            lock_token=row["lock_token"],
            locked_until=row["locked_until"],
            dead_letter_source=row["dead_letter_source"],
            dead_letter_reason=row["dead_letter_reason"],
            dead_letter_description=row["dead_letter_description"],
            dead_lettered_at=row["dead_lettered_at"],
        )


_PICK = f"""
SELECT {_COLUMNS} FROM devhost.messages
WHERE queue = %(queue)s AND visible_at <= now()
ORDER BY visible_at, sequence_number
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""  # noqa: S608 (only module constants are interpolated)

_LOCK = f"""
UPDATE devhost.messages
SET delivery_count = delivery_count + 1,
    lock_token = gen_random_uuid(),
    locked_until = now() + %(lock)s::interval,
    visible_at = now() + %(lock)s::interval
WHERE sequence_number = ANY(%(ids)s)
RETURNING {_COLUMNS}
"""  # noqa: S608

# Moving to the dead-letter queue keeps the row (and its sequence number): only its queue,
# lock and dead-letter columns change.
_DEAD_LETTER_SET = f"""
UPDATE devhost.messages
SET queue = queue || '{DEAD_LETTER_SUFFIX}',
    dead_letter_source = queue,
    dead_letter_reason = %(reason)s,
    dead_letter_description = %(description)s,
    dead_lettered_at = now(),
    lock_token = NULL,
    locked_until = NULL,
    visible_at = now()
"""  # noqa: S608
_DEAD_LETTER_SPENT = _DEAD_LETTER_SET + "WHERE sequence_number = ANY(%(ids)s)"
_LOCKED_BY_CALLER = "WHERE (sequence_number, lock_token) IN (SELECT * FROM unnest(%(ids)s, %(tokens)s))"
_DEAD_LETTER_LOCKED = _DEAD_LETTER_SET + _LOCKED_BY_CALLER
_RENEW_SET = """
UPDATE devhost.messages
SET locked_until = now() + %(lock)s::interval, visible_at = now() + %(lock)s::interval
"""
_RENEW_LOCKED = _RENEW_SET + _LOCKED_BY_CALLER

_RESUBMIT = f"""
WITH taken AS (
    DELETE FROM devhost.messages
    WHERE queue = %(dlq)s AND (%(all)s OR sequence_number = %(id)s)
    RETURNING message_id, body, content_type, application_properties, dead_letter_source
), stored AS (
    INSERT INTO devhost.messages (queue, message_id, body, content_type, application_properties)
    SELECT dead_letter_source, message_id, body, content_type, application_properties FROM taken
    RETURNING queue
)
SELECT pg_notify('{NOTIFY_CHANNEL}', queue) FROM stored
"""  # noqa: S608


class PgQueueReceiver:
    """Peek-lock receiving and settlement on the PostgreSQL queues."""

    def __init__(self, pool: QueuePool) -> None:
        self.pool = pool

    async def receive(
        self,
        queue: str,
        max_messages: int,
        lock_duration: timedelta,
        *,
        max_delivery_count: int = DEFAULT_MAX_DELIVERY_COUNT,
    ) -> list[ReceivedMessage]:
        """Lock and return up to ``max_messages`` visible messages, oldest first.

        A visible message already delivered ``max_delivery_count`` times (its lock expired on
        the last delivery) is dead-lettered with ``MaxDeliveryCountExceeded`` instead.
        """
        if max_messages <= 0:
            return []
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_PICK, {"queue": queue, "limit": max_messages})
            rows = await cur.fetchall()
            spent = [r["sequence_number"] for r in rows if r["delivery_count"] >= max_delivery_count]
            deliver = [r["sequence_number"] for r in rows if r["delivery_count"] < max_delivery_count]
            if spent:
                await cur.execute(
                    _DEAD_LETTER_SPENT,
                    {
                        "ids": spent,
                        "reason": MAX_DELIVERY_COUNT_EXCEEDED,
                        "description": f"lock expired on delivery {max_delivery_count} of "
                        f"{max_delivery_count}",
                    },
                )
            if not deliver:
                return []
            await cur.execute(_LOCK, {"ids": deliver, "lock": lock_duration})
            locked = [ReceivedMessage.from_row(row) for row in await cur.fetchall()]
        return sorted(locked, key=lambda m: m.sequence_number)

    async def next_visible_at(self, queue: str) -> datetime | None:
        """When the next message of ``queue`` becomes visible (scheduled or locked ones)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT min(visible_at) FROM devhost.messages WHERE queue = %s", (queue,)
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def renew_lock(self, message: ReceivedMessage, lock_duration: timedelta) -> datetime | None:
        """Extend the lock; the new ``locked_until``, or ``None`` when the lock was lost."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                """UPDATE devhost.messages
                   SET locked_until = now() + %(lock)s::interval, visible_at = now() + %(lock)s::interval
                   WHERE sequence_number = %(id)s AND lock_token = %(token)s
                   RETURNING locked_until""",
                {"id": message.sequence_number, "token": message.lock_token, "lock": lock_duration},
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def renew_locks(self, messages: list[ReceivedMessage], lock_duration: timedelta) -> int:
        """Extend the locks of a batch; how many were still held (the rest were lost)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                _RENEW_LOCKED,
                {
                    "ids": [m.sequence_number for m in messages],
                    "tokens": [m.lock_token for m in messages],
                    "lock": lock_duration,
                },
            )
            return cur.rowcount

    async def complete(self, messages: ReceivedMessage | list[ReceivedMessage]) -> int:
        """Delete messages whose lock the caller still holds; how many were completed."""
        batch = messages if isinstance(messages, list) else [messages]
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                """DELETE FROM devhost.messages
                   WHERE (sequence_number, lock_token) IN
                         (SELECT * FROM unnest(%s::bigint[], %s::uuid[]))""",
                ([m.sequence_number for m in batch], [m.lock_token for m in batch]),
            )
            return cur.rowcount

    async def abandon(self, messages: ReceivedMessage | list[ReceivedMessage]) -> int:
        """Release locks so the messages are visible again at once; how many were released."""
        batch = messages if isinstance(messages, list) else [messages]
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"""WITH released AS (
                        UPDATE devhost.messages
                        SET lock_token = NULL, locked_until = NULL, visible_at = now()
                        WHERE (sequence_number, lock_token) IN
                              (SELECT * FROM unnest(%s::bigint[], %s::uuid[]))
                        RETURNING queue)
                    SELECT pg_notify('{NOTIFY_CHANNEL}', queue) FROM released""",  # noqa: S608
                ([m.sequence_number for m in batch], [m.lock_token for m in batch]),
            )
            return cur.rowcount

    async def dead_letter(
        self, messages: ReceivedMessage | list[ReceivedMessage], reason: str, description: str
    ) -> int:
        """Move locked messages to their dead-letter queue; how many were moved."""
        batch = messages if isinstance(messages, list) else [messages]
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                _DEAD_LETTER_LOCKED,
                {
                    "ids": [m.sequence_number for m in batch],
                    "tokens": [m.lock_token for m in batch],
                    "reason": reason,
                    "description": description,
                },
            )
            return cur.rowcount

    async def dead_letters(self, queue: str) -> list[ReceivedMessage]:
        """The dead letters of ``queue``, oldest first."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"SELECT {_COLUMNS} FROM devhost.messages WHERE queue = %s "  # noqa: S608
                "ORDER BY sequence_number",
                (dead_letter_queue(queue),),
            )
            return [ReceivedMessage.from_row(row) for row in await cur.fetchall()]

    async def resubmit(self, queue: str, sequence_number: int | None) -> int:
        """Put one dead letter (or all, when ``sequence_number`` is None) back on ``queue``.

        The new message keeps body, properties and ``message_id`` and bypasses duplicate
        detection: an operator's explicit resubmit must not be dropped as a duplicate.
        Returns how many were resubmitted.
        """
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                _RESUBMIT,
                {"dlq": dead_letter_queue(queue), "all": sequence_number is None, "id": sequence_number},
            )
            return cur.rowcount

    async def purge_duplicate_ids(self, window: timedelta) -> int:
        """Forget ``message_id`` values older than the duplicate-detection window."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM devhost.message_ids WHERE sent_at < now() - %s::interval", (window,)
            )
            return cur.rowcount
