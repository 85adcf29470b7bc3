"""The transactional outbox: messages written with a database change, sent after commit.

A handler inserts into ``outbox`` in the same transaction as its effect; after commit it calls
:func:`flush`, and a timer calls it too, so whatever a crash between commit and send left behind
is sent later. Duplicate detection on ``message_id`` makes a second send of the same row
harmless. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers never block.
"""

from __future__ import annotations

import json
from collections import defaultdict

from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.db import transaction
from shared.messaging import MessageSender, OutboundMessage

CLAIM = """
SELECT id, queue, message_id, body, application_properties FROM outbox
WHERE sent_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY(%s)"


async def flush(pool: AsyncConnectionPool, sender: MessageSender, *, limit: int = 200) -> int:
    """Send up to ``limit`` unsent rows; return how many were sent.

    The rows stay claimed until the send is confirmed and marked in the same transaction; if
    the send fails the transaction rolls back and the rows wait for the next flush.
    """
    async with transaction(pool) as conn:
        cursor = await conn.execute(CLAIM, (limit,))
        rows = await cursor.fetchall()
        if not rows:
            return 0
        by_queue: dict[str, list[OutboundMessage]] = defaultdict(list)
        for _id, queue, message_id, body, properties in rows:
            by_queue[queue].append(
                OutboundMessage(
                    body=json.dumps(body, separators=(",", ":")).encode(),
                    message_id=message_id,
                    application_properties=properties or {},
                )
            )
        for queue, messages in by_queue.items():
            await sender.send(queue, messages)
            metrics.increment("outbox_sent", len(messages), queue=queue)
        await conn.execute(MARK_SENT, ([row[0] for row in rows],))
        return len(rows)
