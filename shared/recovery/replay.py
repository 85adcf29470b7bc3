"""Failed events, re-queued to be applied again once their cause is fixed.

An event recorded ``failed`` (invalid data that a corrected validator now takes, a candidate the
portal did not know then, a bug since fixed) is put back on ``portal-events`` as it was stored,
under ``{event_id}:replay{n}`` (n counts this event's replays, so duplicate detection never
drops one) with the application property ``replay`` = n. The processor then removes the failed
record in the transaction that records the event again (:mod:`shared.inbound.processor`,
"operator recovery"): the event applies once, and if it fails again it is recorded ``failed``
with the new reason. Events recorded otherwise are never replayed (they applied, or were
ignored on purpose), nor those whose payload was not stored (a profile without consent, a body
PostgreSQL refused, a payload purged by retention): there is nothing to send.

The replayed message carries the replay time as ``received_at``: receipt-to-applied latency then
measures the replay, not the days the event waited for a fix (the original time is in the audit
record). Each replay is confirmed by the queue before its audit record is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row, tuple_row

from shared.messaging import PORTAL_EVENTS, MessageSender, OutboundMessage
from shared.recovery import audit

#: Application property the processor looks for (shared.inbound.processor.REPLAY).
REPLAY = "replay"
ACTION = "events.replay"
CHUNK = 100

FAILED = """
SELECT event_id, event_type, payload::text AS payload, payload = '{}'::jsonb AS withheld, received_at,
       processed_at, last_error
FROM webhook_events
WHERE status = 'failed'
  AND (%(event_id)s::text IS NULL OR event_id = %(event_id)s)
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s)
  AND (%(since)s::timestamptz IS NULL OR processed_at >= %(since)s)
ORDER BY processed_at, id
LIMIT %(limit)s
"""

STATUS = "SELECT status FROM webhook_events WHERE event_id = %s"

PREVIOUS = """
SELECT subject, count(*) FROM audit_log WHERE action = 'events.replay' AND subject = ANY(%s) GROUP BY subject
"""


@dataclass(frozen=True, slots=True)
class Replay:
    event_id: str
    event_type: str
    failed_at: datetime | None
    reason: str | None
    message_id: str | None  # None: skipped
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.event_type,
            "failed_at": self.failed_at,
            "reason": self.reason,
            "new_message_id": self.message_id,
            "skipped": self.skipped,
        }


async def status_of(conn: AsyncConnection[Any], event_id: str) -> str | None:
    async with conn.cursor(row_factory=tuple_row) as cursor:
        row = await (await cursor.execute(STATUS, (event_id,))).fetchone()
    return None if row is None else str(row[0])


async def plan(
    conn: AsyncConnection[Any],
    *,
    event_id: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    limit: int = 10_000,
) -> tuple[list[Replay], list[dict[str, Any]]]:
    """What a replay would send: each failed event chosen, under its new id, or why it is skipped;
    and the rows (with payloads) to send."""
    params = {"event_id": event_id, "event_type": event_type, "since": since, "limit": limit}
    async with conn.cursor(row_factory=dict_row) as cursor:
        rows = await (await cursor.execute(FAILED, params)).fetchall()
    async with conn.cursor(row_factory=tuple_row) as cursor:
        counted = await (await cursor.execute(PREVIOUS, ([r["event_id"] for r in rows],))).fetchall()
    previous = {str(subject): int(n) for subject, n in counted}
    planned = []
    for row in rows:
        common = (row["event_id"], row["event_type"], row["processed_at"], row["last_error"])
        if row["withheld"]:
            planned.append(
                Replay(*common, None, "its payload was not stored (no consent, not storable, or purged)")
            )
        else:
            planned.append(Replay(*common, f"{row['event_id']}:replay{previous.get(row['event_id'], 0) + 1}"))
    return planned, rows


async def replay(
    conn: AsyncConnection[Any],
    sender: MessageSender,
    planned: Sequence[Replay],
    rows: Sequence[dict[str, Any]],
    *,
    now: datetime,
    actor: str,
) -> list[Replay]:
    """Send the planned replays in chunks, each confirmed before its audit records; returns
    those sent (a send that fails raises: what was sent before stays sent and audited)."""
    by_id = {row["event_id"]: row for row in rows}
    to_send = [r for r in planned if r.message_id is not None]
    sent: list[Replay] = []
    for start in range(0, len(to_send), CHUNK):
        chunk = to_send[start : start + CHUNK]
        messages = [
            OutboundMessage(
                body=by_id[r.event_id]["payload"].encode("utf-8"),
                message_id=r.message_id or "",
                application_properties={
                    "received_at": now.isoformat(),
                    "event_type": r.event_type,
                    "source": "replay",
                    REPLAY: int((r.message_id or "").rsplit("replay", 1)[1]),
                },
            )
            for r in chunk
        ]
        await sender.send(PORTAL_EVENTS, messages)
        async with conn.transaction():
            for r in chunk:
                await audit.record(
                    conn,
                    ACTION,
                    r.event_id,
                    {
                        "message_id": r.message_id,
                        "received_at": by_id[r.event_id]["received_at"].isoformat(),
                        "failed_reason": r.reason,
                    },
                    actor=actor,
                )
        sent += chunk
    return sent
