"""The local :class:`MessageSender`: durable queues in PostgreSQL (schema ``devhost``).

Used when ``ServiceBusConnection`` is a PostgreSQL URL. A send is one transaction that has
committed before :meth:`PgQueueSender.send` returns (the confirmed send the webhook receiver's
2xx relies on). It keeps Service Bus's rules that the flows depend on:

* duplicate detection: a ``message_id`` already sent to the same queue within the window
  (10 minutes) is accepted and dropped; after the window the same id is accepted again;
* ``scheduled_enqueue_time``: the message stays invisible until then;
* application properties (stored as jsonb) and ``content_type`` round-trip;
* a message over 256 KiB (body + properties) raises :class:`MessageTooLarge` and nothing of
  its batch is sent;
* a connection failure raises :class:`DependencyUnavailable`.

Each stored message also NOTIFYs the devhost, which therefore picks it up within milliseconds.
The receiving side (peek-lock, dead letters) is :mod:`shared.messaging.pg_receiver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_schema import NOTIFY_CHANNEL
from shared.messaging.port import OutboundMessage
from shared.messaging.size import check_size

#: Service Bus duplicate detection window, as set on the queues by the infrastructure.
DUPLICATE_WINDOW = timedelta(minutes=10)

# One message stored unless its id was sent to the queue within the window; returns one row
# (the NOTIFY) when stored, none when dropped as a duplicate. Also used by the operator's
# resubmit (shared.messaging.pg_dead_letters) inside its own transaction.
SEND = f"""
WITH fresh AS (
    INSERT INTO devhost.message_ids AS seen (queue, message_id, sent_at)
    VALUES (%(queue)s, %(message_id)s, now())
    ON CONFLICT (queue, message_id) DO UPDATE SET sent_at = excluded.sent_at
        WHERE seen.sent_at <= excluded.sent_at - %(window)s::interval
    RETURNING 1
), stored AS (
    INSERT INTO devhost.messages
        (queue, message_id, body, content_type, application_properties,
         scheduled_enqueue_time, visible_at)
    SELECT %(queue)s, %(message_id)s, %(body)s, %(content_type)s, %(properties)s,
           %(scheduled)s::timestamptz, coalesce(%(scheduled)s::timestamptz, now())
    FROM fresh
    RETURNING 1
)
SELECT pg_notify('{NOTIFY_CHANNEL}', %(queue)s) FROM stored
"""  # noqa: S608 (only module constants are interpolated)


def as_utc(moment: datetime | None) -> datetime | None:
    """An aware UTC datetime; a naive one is taken as UTC, as the Service Bus SDK does."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def send_parameters(queue: str, message: OutboundMessage, window: timedelta) -> dict[str, Any]:
    return {
        "queue": queue,
        "message_id": message.message_id,
        "body": message.body,
        "content_type": message.content_type,
        "properties": Jsonb(dict(message.application_properties)),
        "scheduled": as_utc(message.scheduled_enqueue_time),
        "window": window,
    }


class PgQueueSender:
    """Confirmed sends to the PostgreSQL queues; one pool per sender, opened on first use."""

    def __init__(
        self,
        url_or_pool: str | QueuePool,
        *,
        duplicate_window: timedelta = DUPLICATE_WINDOW,
    ) -> None:
        self._owns_pool = isinstance(url_or_pool, str)
        self.pool = QueuePool(url_or_pool) if isinstance(url_or_pool, str) else url_or_pool
        self.duplicate_window = duplicate_window

    async def send(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Store ``messages`` on ``queue`` in one transaction, committed before returning."""
        await self.store(queue, messages)

    async def store(self, queue: str, messages: Sequence[OutboundMessage]) -> int:
        """:meth:`send`, returning how many were stored (the rest were duplicates, dropped)."""
        if not messages:
            return 0
        for message in messages:
            check_size(queue, message)
        params = [send_parameters(queue, message, self.duplicate_window) for message in messages]
        stored = 0
        async with self.pool.connection() as conn, conn.cursor() as cur:
            if len(params) == 1:
                # One statement is atomic on its own: in autocommit it is one round trip instead
                # of three (BEGIN, INSERT, COMMIT), which is most of a webhook's acknowledgement.
                await conn.set_autocommit(True)
                try:
                    await cur.execute(SEND, params[0])
                    stored = cur.rowcount
                finally:
                    await conn.set_autocommit(False)
            else:
                await cur.executemany(SEND, params, returning=True)
                while True:
                    stored += cur.rowcount
                    if not cur.nextset():
                        break
        return stored

    async def ping(self) -> None:
        """Raise :class:`DependencyUnavailable` unless the queue database answers."""
        await self.pool.ping()

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()
