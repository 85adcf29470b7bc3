"""Stored payloads purged after ``PAYLOAD_RETENTION_DAYS`` (90 by default): the retention timer.

What the portal sent is kept as long as it helps (replays, investigations) and no longer:

============================ ======================== ===================================
table                        age from                 purged to
============================ ======================== ===================================
``webhook_events.payload``   ``processed_at``         ``{}`` (as a payload never stored)
``rejected_deliveries``      ``received_at``          ``payload`` ``NULL``
``parked_messages.body``     ``parked_at``            ``{"purged": true}``
============================ ======================== ===================================

Rows stay: ids, types, statuses, reasons and times are the history. A purged event can no
longer be replayed, a purged parked message no longer resubmitted (``ops`` says so).

Each table is purged in batches of :data:`BATCH` rows, oldest first, within a time budget, and
its progress kept in ``retention_watermarks``: the next run starts an hour before where the last
one finished (the times are those of insertion, so nothing older can appear later; the hour
covers transactions still open then), so a run costs what was added since, never the whole
table. Every run with something purged writes an audit record (actor ``timer``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared.recovery import audit

BATCH = 5_000
#: A run stops starting batches after this long; the next run continues.
BUDGET_SECONDS = 60.0
OVERLAP = timedelta(hours=1)
EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class Purge:
    table: str
    sql: str  # %(start)s, %(before)s, %(batch)s; RETURNING the age column of each purged row


PURGES = (
    Purge(
        "webhook_events",
        """
UPDATE webhook_events SET payload = '{}'::jsonb
WHERE id IN (SELECT id FROM webhook_events
             WHERE processed_at >= %(start)s AND processed_at < %(before)s AND payload <> '{}'::jsonb
             ORDER BY processed_at LIMIT %(batch)s)
RETURNING processed_at
""",
    ),
    Purge(
        "rejected_deliveries",
        """
UPDATE rejected_deliveries SET payload = NULL
WHERE id IN (SELECT id FROM rejected_deliveries
             WHERE received_at >= %(start)s AND received_at < %(before)s AND payload IS NOT NULL
             ORDER BY received_at LIMIT %(batch)s)
RETURNING received_at
""",
    ),
    Purge(
        "parked_messages",
        """
UPDATE parked_messages SET body = '{"purged": true}'::jsonb
WHERE id IN (SELECT id FROM parked_messages
             WHERE parked_at >= %(start)s AND parked_at < %(before)s AND body <> '{"purged": true}'::jsonb
             ORDER BY parked_at LIMIT %(batch)s)
RETURNING parked_at
""",
    ),
)

WATERMARK = "SELECT purged_before FROM retention_watermarks WHERE table_name = %s"
SET_WATERMARK = """
INSERT INTO retention_watermarks (table_name, purged_before) VALUES (%s, %s)
ON CONFLICT (table_name) DO UPDATE
    SET purged_before = greatest(retention_watermarks.purged_before, EXCLUDED.purged_before)
"""


@dataclass(slots=True)
class RetentionReport:
    purged: dict[str, int] = field(default_factory=dict)
    finished: bool = True


class Retention:
    def __init__(
        self,
        db: AsyncConnectionPool,
        *,
        days: int,
        batch: int = BATCH,
        budget_seconds: float = BUDGET_SECONDS,
        timer: Any = time.monotonic,
    ) -> None:
        self._db = db
        self._age = timedelta(days=days)
        self._batch = batch
        self._budget = budget_seconds
        self._timer = timer

    async def purge(self, now: datetime) -> RetentionReport:
        """Purge what is older than the retention, table by table; each batch its own transaction."""
        report = RetentionReport()
        before = now - self._age
        deadline = self._timer() + self._budget
        for purge in PURGES:
            async with self._db.connection() as conn:
                row = await (await conn.execute(WATERMARK, (purge.table,))).fetchone()
            start = (row[0] - OVERLAP) if row else EPOCH
            count = 0
            while True:
                if self._timer() > deadline:
                    report.finished = False
                    break
                async with self._db.connection() as conn:
                    cursor = await conn.execute(
                        purge.sql, {"start": start, "before": before, "batch": self._batch}
                    )
                    ages = [r[0] for r in await cursor.fetchall()]
                count += len(ages)
                if len(ages) < self._batch:
                    async with self._db.connection() as conn:
                        await conn.execute(SET_WATERMARK, (purge.table, before))
                    break
                start = max(ages)
            report.purged[purge.table] = count
        if any(report.purged.values()):
            async with self._db.connection() as conn:
                details = {
                    "older_than": before.isoformat(),
                    "rows": report.purged,
                    "finished": report.finished,
                }
                await audit.record(conn, "retention.purge", None, details, actor="timer")
        return report
