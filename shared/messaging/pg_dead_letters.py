"""The local :class:`DeadLetterQueues`: devhost's dead letters in PostgreSQL (schema ``devhost``).

Used when ``ServiceBusConnection`` is a PostgreSQL URL. A dead letter is a row of
``devhost.messages`` on the queue ``{queue}/$deadletterqueue`` (:mod:`shared.messaging.pg_receiver`).

A resubmit is one transaction on the queue database: the chosen dead letters are locked
(``SKIP LOCKED``: a concurrent resubmit takes the others, never the same ones), each is stored
on its queue under its new id by the sender's own statement (:data:`shared.messaging.pg_queue.SEND`,
so duplicate detection applies as to any send), and the ones stored leave the dead-letter queue.
Sending and removing commit together, so locally a resubmit can neither lose a message nor
send it twice. A new id that duplicate detection drops (sent to that queue within the window)
leaves its dead letter where it is, and is not reported as resubmitted.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from psycopg.rows import dict_row

from shared.messaging.dead_letters import DeadLetter
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import DUPLICATE_WINDOW, SEND, send_parameters
from shared.messaging.pg_receiver import dead_letter_queue
from shared.messaging.resubmission import Resubmitted, resubmission
from shared.messaging.size import check_size

_COLUMNS = """sequence_number, message_id, body, content_type, application_properties, enqueued_at,
    delivery_count, dead_letter_reason, dead_letter_description, dead_lettered_at"""

PEEK = f"""
SELECT {_COLUMNS} FROM devhost.messages
WHERE queue = %(dlq)s
ORDER BY sequence_number
LIMIT %(limit)s
"""  # noqa: S608 (only module constants are interpolated)

TAKE = f"""
SELECT {_COLUMNS} FROM devhost.messages
WHERE queue = %(dlq)s AND (%(every)s OR message_id = ANY(%(message_ids)s))
ORDER BY sequence_number
FOR UPDATE SKIP LOCKED
"""  # noqa: S608

REMOVE = "DELETE FROM devhost.messages WHERE sequence_number = ANY(%(sequence_numbers)s)"


def _dead_letter(queue: str, row: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        queue=queue,
        sequence_number=row["sequence_number"],
        message_id=row["message_id"],
        body=bytes(row["body"]),
        content_type=row["content_type"],
        application_properties=dict(row["application_properties"]),
        delivery_count=row["delivery_count"],
        enqueued_time=row["enqueued_at"],
        reason=row["dead_letter_reason"],
        description=row["dead_letter_description"],
        dead_lettered_at=row["dead_lettered_at"],
    )


class PgDeadLetterQueues:
    """Dead letters of the PostgreSQL queues; one pool, opened on first use."""

    def __init__(
        self, url_or_pool: str | QueuePool, *, duplicate_window: timedelta = DUPLICATE_WINDOW
    ) -> None:
        self._owns_pool = isinstance(url_or_pool, str)
        self.pool = QueuePool(url_or_pool, max_size=2) if isinstance(url_or_pool, str) else url_or_pool
        self.duplicate_window = duplicate_window

    async def peek(self, queue: str, *, limit: int) -> list[DeadLetter]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(PEEK, {"dlq": dead_letter_queue(queue), "limit": limit})
            return [_dead_letter(queue, row) for row in await cur.fetchall()]

    async def resubmit(self, queue: str, message_ids: Collection[str] | None) -> list[Resubmitted]:
        done: list[Resubmitted] = []
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                TAKE,
                {
                    "dlq": dead_letter_queue(queue),
                    "every": message_ids is None,
                    "message_ids": sorted(message_ids or ()),
                },
            )
            letters = [_dead_letter(queue, row) for row in await cur.fetchall()]
            stored: list[int] = []
            for letter in letters:
                message = resubmission(
                    letter.message_id,
                    letter.body,
                    application_properties=letter.application_properties,
                    content_type=letter.content_type,
                    taken={r.new_message_id for r in done},
                )
                check_size(queue, message)
                await cur.execute(SEND, send_parameters(queue, message, self.duplicate_window))
                if cur.rowcount:
                    stored.append(letter.sequence_number)
                    done.append(Resubmitted("dead-letter", queue, letter.message_id, message.message_id))
            if stored:
                await cur.execute(REMOVE, {"sequence_numbers": stored})
        return done

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()
