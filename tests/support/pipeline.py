"""Drive the inbound pipeline's core against real services: receive, queue, process.

The HTTP tests (tests/e2e) go through devhost; these helpers let the integration tier call the
receiver and drain ``portal-events`` into the processor deterministically, batch by batch.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared.inbound.answers import Answer
from shared.inbound.processor import BatchReport
from shared.messaging import PORTAL_EVENTS
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_receiver import PgQueueReceiver
from shared.queued import QueuedMessage
from shared.runtime import Runtime
from tests.support.events import signed


class Pipeline:
    def __init__(self, runtime: Runtime, secret: str, database_url: str) -> None:
        self.runtime = runtime
        self.secret = secret
        self.database_url = database_url
        self.queue_pool = QueuePool(runtime.settings.service_bus_connection or "")
        self.receiver = PgQueueReceiver(self.queue_pool)

    async def post(self, event: dict[str, Any], **sign_kw: Any) -> Answer:
        headers, body = signed(self.secret, event, **sign_kw)
        return await self.runtime.receiver.receive(headers, body)

    async def drain(self, *, batch_size: int = 100, max_batches: int = 1000) -> list[BatchReport]:
        """Process every visible message of portal-events, completing each batch."""
        reports = []
        for _ in range(max_batches):
            received = await self.receiver.receive(PORTAL_EVENTS, batch_size, timedelta(seconds=60))
            if not received:
                break
            batch = [
                QueuedMessage(
                    body=m.body,
                    message_id=m.message_id,
                    application_properties=dict(m.application_properties),
                    delivery_count=m.delivery_count,
                    enqueued_time=m.enqueued_time,
                )
                for m in received
            ]
            reports.append(await self.runtime.processor.process(batch))
            await self.receiver.complete(received)
        return reports

    async def queued(self, queue: str = PORTAL_EVENTS) -> list[dict[str, Any]]:
        async with self.queue_pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "SELECT * FROM devhost.messages WHERE queue = %s ORDER BY sequence_number", (queue,)
            )
            return await cur.fetchall()

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    def candidate(self, portal_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM candidates WHERE portal_candidate_id = %s", portal_id)
        assert rows, f"no candidate {portal_id}"
        return rows[0]

    async def close(self) -> None:
        await self.queue_pool.close()
        await self.runtime.close()
