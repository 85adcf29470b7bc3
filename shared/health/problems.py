"""The open problems an operator should act on, each with the command that resolves it.

Failed events, failed ``sync_queue`` rows, failed and rejected documents, dead letters and
parked messages per queue, and open alerts: the newest of each (:data:`LIMIT`), read from the
same tables and the same metrics document as the rest of the dashboard. The commands come from
:mod:`shared.health.runbook`, as in the alert posts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared.health import queries, runbook
from shared.health.conditions import resolution_of

LIMIT = 20
#: Failed events listed one by one; the rest are summed with their reasons.
EVENTS_LISTED = 10


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _problem(
    kind: str, subject: str, reason: str | None, since: datetime | str | None, command: str
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject": subject,
        "reason": reason or "-",
        "since": since if isinstance(since, str) or since is None else _when(since),
        "command": command,
    }


async def problems(
    db: AsyncConnectionPool, metrics: Mapping[str, Any], *, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Every open problem, newest first within each kind; raises if PostgreSQL is down."""
    found: list[dict[str, Any]] = []
    for queue, figures in (metrics.get("queues") or {}).items():
        if figures.get("dead_letters"):
            found.append(
                _problem(
                    "dead_letters",
                    f"{queue}: {figures['dead_letters']} dead letter(s)",
                    "a handler kept raising (a bug): fix and deploy first",
                    None,
                    runbook.RESUBMIT_DEAD_LETTERS.format(queue=queue),
                )
            )
        if figures.get("parked"):
            found.append(
                _problem(
                    "parked",
                    f"{queue}: {figures['parked']} parked message(s)",
                    "transient failures for 24 hours",
                    None,
                    runbook.RESUBMIT_PARKED.format(queue=queue),
                )
            )
    params = {"limit": limit}
    async with db.connection() as conn:
        alerts = await (await conn.execute(queries.OPEN_ALERTS, params)).fetchall()
        events = await (
            await conn.execute(queries.FAILED_EVENTS, {"limit": min(limit, EVENTS_LISTED)})
        ).fetchall()
        sync_rows = await (await conn.execute(queries.FAILED_SYNC_ROWS, params)).fetchall()
        documents = await (await conn.execute(queries.PROBLEM_DOCUMENTS, params)).fetchall()
    for kind, key, first_seen, _last_seen, count, text in alerts:
        found.append(
            {
                **_problem(
                    "alert",
                    f"{kind} [{key}] ×{count}",
                    f"{text} (resolves {resolution_of(kind)})",
                    first_seen,
                    runbook.command_for(kind, key),
                ),
                "resolve": runbook.RESOLVE_ALERT.format(kind=kind, key=key),
            }
        )
    for event_id, event_type, reason, processed_at in events:
        found.append(
            _problem(
                "failed_event",
                f"{event_id} ({event_type})",
                reason,
                processed_at,
                runbook.REPLAY_EVENT.format(event_id=event_id),
            )
        )
    day = (metrics.get("events") or {}).get("24h") or {}
    more = int(day.get("failed") or 0) - len(events)
    if more > 0:
        reasons = ", ".join(f"{reason} ({n})" for reason, n in list(day["failed_by_reason"].items())[:3])
        found.append(
            _problem(
                "failed_events",
                f"{more} more failed event(s) in the last 24 h",
                reasons,
                None,
                runbook.LIST_FAILED_EVENTS,
            )
        )
    for command_id, operation, entity_id, retries, reason, last_attempt in sync_rows:
        found.append(
            _problem(
                "failed_sync",
                f"{operation} {command_id} (entity {entity_id}, {retries} attempts)",
                reason,
                last_attempt,
                runbook.RETRY_SYNC.format(command_id=command_id),
            )
        )
    for document_id, portal_document_id, status, reason, updated_at in documents:
        found.append(
            _problem(
                f"{status}_document",
                f"{portal_document_id} ({document_id})",
                reason,
                updated_at,
                runbook.RETRY_DOCUMENT.format(document_id=document_id)
                if status == "failed"
                else runbook.LIST_REJECTED_DOCUMENTS,
            )
        )
    return found
