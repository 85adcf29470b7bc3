"""Where alerts are remembered: de-duplication in Redis, incidents in PostgreSQL.

* :class:`RedisDedupe`: one hash per open incident, ``{prefix}alert:{kind}:{key}``, whose
  ``count`` the first occurrence sets to 1 (atomically, so that of two instances raising the
  same alert at once exactly one posts). It expires after ``ALERT_REMIND_HOURS``: an incident
  still occurring then is posted again as a reminder. Resolving deletes it. Posts that failed
  while PostgreSQL was down wait in the list ``{prefix}alerts:unsent`` for the timer.
* :class:`MemoryDedupe`: the same rule within one worker, for when Redis is down too.
* :class:`AlertStore`: the ``alerts`` table, one row per incident (kind, key, first and last
  seen, count, resolved at and by), and whether its posts went out (``notified_at``,
  ``resolution_notified_at``; a failed post sets ``next_post_at`` for the timer).

Every method here raises the store's own errors (redis, psycopg, the pool's timeout);
:class:`shared.alerts.Alerter` decides what to do without each store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis.asyncio as aioredis
from psycopg import AsyncConnection
from psycopg.rows import class_row, tuple_row
from psycopg_pool import AsyncConnectionPool

#: After a failed post, wait 1, 2, 4 … minutes (capped at an hour); give up after a day of tries.
POST_RETRY_CAP = timedelta(hours=1)
POST_MAX_ATTEMPTS = 30

_OCCUR = """
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
if n == 1 then
  redis.call('HSET', KEYS[1], 'first_seen', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return n
"""


def post_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed post: 1, 2, 4 … minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), POST_RETRY_CAP)


class RedisDedupe:
    def __init__(self, client: aioredis.Redis, prefix: str, *, remind_after: timedelta) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = max(int(remind_after.total_seconds()), 1)
        self._occur = client.register_script(_OCCUR)
        self.unsent_key = f"{prefix}alerts:unsent"

    def key(self, kind: str, key: str) -> str:
        return f"{self._prefix}alert:{kind}:{key}"

    async def occur(self, kind: str, key: str, now: datetime) -> int:
        """This occurrence's number in the open incident (1: the first, to be posted)."""
        return int(await self._occur(keys=[self.key(kind, key)], args=[now.isoformat(), self._ttl]))

    async def clear(self, kind: str, key: str) -> bool:
        """Forget the incident; True if one was open."""
        return bool(await self._client.delete(self.key(kind, key)))

    async def keep_unsent(self, entry: dict[str, Any]) -> None:
        await self._client.rpush(self.unsent_key, json.dumps(entry))

    async def take_unsent(self, limit: int) -> list[dict[str, Any]]:
        raw: list[bytes | str] | None = await self._client.lpop(self.unsent_key, limit)  # type: ignore[assignment]
        return [json.loads(item) for item in raw or []]


class MemoryDedupe:
    """Per worker: the first occurrence of (kind, key) within ``remind_after`` is the one posted."""

    def __init__(self, remind_after: timedelta, clock: Callable[[], float] = time.monotonic) -> None:
        self._remind_after = remind_after.total_seconds()
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}

    def first(self, kind: str, key: str) -> bool:
        now = self._clock()
        seen = self._seen.get((kind, key))
        if seen is not None and now - seen < self._remind_after:
            return False
        self._seen[(kind, key)] = now
        return True

    def clear(self, kind: str, key: str) -> bool:
        return self._seen.pop((kind, key), None) is not None


@dataclass(slots=True)
class AlertRow:
    id: int
    kind: str
    key: str
    first_seen: datetime
    last_seen: datetime
    count: int
    last_text: str
    resolved_at: datetime | None
    resolved_by: str | None
    notified_at: datetime | None
    resolution_notified_at: datetime | None
    post_attempts: int
    next_post_at: datetime | None
    last_post_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "key": self.key,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
            "text": self.last_text,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
            "notified": self.notified_at is not None,
            "post_pending": self.next_post_at is not None,
            "last_post_error": self.last_post_error,
        }


_COLUMNS = """id, kind, key, first_seen, last_seen, count, last_text, resolved_at, resolved_by, notified_at,
    resolution_notified_at, post_attempts, next_post_at, last_post_error"""

# One open row per (kind, key): a repeat counts on it. ``notified`` is true when another
# occurrence already posted (Redis said so) though this row is new (PostgreSQL was down then).
RECORD = f"""
INSERT INTO alerts (kind, key, first_seen, last_seen, last_text, notified_at)
VALUES (%(kind)s, %(key)s, %(now)s, %(now)s, %(text)s, CASE WHEN %(notified)s THEN %(now)s END)
ON CONFLICT (kind, key) WHERE resolved_at IS NULL DO UPDATE
    SET last_seen = greatest(alerts.last_seen, EXCLUDED.last_seen), count = alerts.count + 1,
        last_text = EXCLUDED.last_text
RETURNING {_COLUMNS}, (xmax = 0) AS inserted
"""  # noqa: S608 (module constants only)

RESOLVE = f"""
UPDATE alerts SET resolved_at = greatest(%(now)s, first_seen), resolved_by = %(by)s
WHERE kind = %(kind)s AND key = %(key)s AND resolved_at IS NULL
RETURNING {_COLUMNS}
"""  # noqa: S608

MARK_POSTED = """
UPDATE alerts
SET notified_at = CASE WHEN %(phase)s = 'resolved' THEN notified_at ELSE coalesce(notified_at, %(now)s) END,
    resolution_notified_at = CASE WHEN %(phase)s = 'resolved' THEN %(now)s ELSE resolution_notified_at END,
    next_post_at = NULL, last_post_error = NULL, post_attempts = 0
WHERE id = %(id)s
"""

MARK_POST_FAILED = """
UPDATE alerts
SET post_attempts = post_attempts + 1, last_post_error = %(error)s,
    next_post_at = CASE WHEN post_attempts + 1 >= %(max_attempts)s THEN NULL ELSE %(next_post_at)s END
WHERE id = %(id)s
"""

# The posts the timer owes, leased for five minutes so that two timers never post one twice.
CLAIM_DUE_POSTS = f"""
UPDATE alerts SET next_post_at = %(now)s + interval '5 minutes'
WHERE id IN (
    SELECT id FROM alerts WHERE next_post_at <= %(now)s ORDER BY next_post_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING {_COLUMNS}
"""  # noqa: S608

OPEN = f"SELECT {_COLUMNS} FROM alerts WHERE resolved_at IS NULL ORDER BY first_seen"  # noqa: S608

LIST = f"""
SELECT {_COLUMNS} FROM alerts
WHERE (%(all)s OR resolved_at IS NULL)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(since)s::timestamptz IS NULL OR last_seen >= %(since)s)
ORDER BY last_seen DESC
LIMIT %(limit)s
"""  # noqa: S608


@dataclass(slots=True)
class Recorded:
    row: AlertRow
    inserted: bool


class Connections(Protocol):
    """Where the store gets a connection: the app's pool, or one operator connection."""

    def connection(
        self, timeout: float | None = None
    ) -> AbstractAsyncContextManager[AsyncConnection[Any]]: ...


class AlertStore:
    def __init__(self, db: Connections | AsyncConnectionPool, *, timeout: float = 2.0) -> None:
        self._db = db
        self._timeout = timeout

    async def record(self, kind: str, key: str, text: str, now: datetime, *, notified: bool) -> Recorded:
        async with (
            self._db.connection(timeout=self._timeout) as conn,
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            await cursor.execute(
                RECORD, {"kind": kind, "key": key, "text": text, "now": now, "notified": notified}
            )
            row = await cursor.fetchone()
        assert row is not None
        *columns, inserted = row
        return Recorded(AlertRow(*columns), bool(inserted))

    async def resolve(self, kind: str, key: str, by: str, now: datetime) -> AlertRow | None:
        async with self._db.connection(timeout=self._timeout) as conn:
            cursor = conn.cursor(row_factory=class_row(AlertRow))
            await cursor.execute(RESOLVE, {"kind": kind, "key": key, "by": by, "now": now})
            return await cursor.fetchone()

    async def mark_posted(self, alert_id: int, phase: str, now: datetime) -> None:
        async with self._db.connection(timeout=self._timeout) as conn:
            await conn.execute(MARK_POSTED, {"id": alert_id, "phase": phase, "now": now})

    async def mark_post_failed(self, alert_id: int, error: str, now: datetime, attempts: int) -> None:
        async with self._db.connection(timeout=self._timeout) as conn:
            await conn.execute(
                MARK_POST_FAILED,
                {
                    "id": alert_id,
                    "error": error,
                    "next_post_at": now + post_delay(attempts + 1),
                    "max_attempts": POST_MAX_ATTEMPTS,
                },
            )

    async def claim_due_posts(self, now: datetime, limit: int = 20) -> list[AlertRow]:
        async with self._db.connection(timeout=self._timeout) as conn:
            cursor = conn.cursor(row_factory=class_row(AlertRow))
            await cursor.execute(CLAIM_DUE_POSTS, {"now": now, "limit": limit})
            return await cursor.fetchall()

    async def open_alerts(self) -> list[AlertRow]:
        async with self._db.connection(timeout=self._timeout) as conn:
            cursor = conn.cursor(row_factory=class_row(AlertRow))
            await cursor.execute(OPEN)
            return await cursor.fetchall()
