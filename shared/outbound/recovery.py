"""What an operator does with ``sync_queue`` rows (``python -m ops sync``): look, and retry.

**Retry** puts ``failed`` rows back to ``pending`` with a fresh attempt budget (``retry_count``
0, due now) and their interview or offer back to ``requested`` / ``sending``, under the **same
command id**: the portal does not remember error answers, so the same ``Idempotency-Key`` is
sent again, and should an earlier attempt have succeeded after all (its answer lost), the
portal replays that success instead of acting twice. It remembers a success for 24 hours only,
though: a row first attempted more than :data:`IDEMPOTENCY_WINDOW` ago could, once retried,
create a second interview request or offer, so it is retried only when the operator says
``force``. A row refused at intake (it never had a request to send: an unknown candidate, a
malformed command) cannot be retried: the ATS must send a corrected command.

Decisions are pure (:func:`plan_retry`); the change is one set-based statement
(:data:`RETRY`), which touches only rows that are still ``failed`` when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row

#: How long the portal remembers a successful answer to an ``Idempotency-Key`` (the contract).
IDEMPOTENCY_WINDOW: Final = timedelta(hours=24)

STATUSES: Final = ("pending", "processing", "completed", "failed")

_COLUMNS = """
id, command_id, operation_type, entity_id, candidate_id, status, retry_count, last_error, http_status,
next_retry, lease_until, last_attempt, first_attempt_at, created_at, completed_at, updated_at,
superseded_by, payload ? 'request' AS sendable
"""

LIST: Final = f"""
SELECT {_COLUMNS} FROM sync_queue
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(operation)s::text IS NULL OR operation_type = %(operation)s)
  AND (%(candidate_id)s::uuid IS NULL OR candidate_id = %(candidate_id)s)
  AND (%(since)s::timestamptz IS NULL OR updated_at >= %(since)s)
ORDER BY id DESC
LIMIT %(limit)s
"""  # noqa: S608 (only module constants are interpolated)

BY_COMMAND: Final = f"""
SELECT {_COLUMNS}, payload FROM sync_queue WHERE command_id = ANY(%(command_ids)s::uuid[]) ORDER BY id
"""  # noqa: S608

FAILED_SINCE: Final = f"""
SELECT {_COLUMNS} FROM sync_queue
WHERE status = 'failed' AND (%(since)s::timestamptz IS NULL OR updated_at >= %(since)s)
ORDER BY id
"""  # noqa: S608

#: Back to pending with a fresh budget, and the interview or offer back to where a new attempt
#: starts from; only rows still failed (another operator may have been quicker).
RETRY: Final = """
WITH retried AS (
    UPDATE sync_queue
    SET status = 'pending', retry_count = 0, next_retry = %(now)s, lease_until = NULL,
        lease_owner = NULL, updated_at = %(now)s,
        last_error = 'retried by an operator; it had failed: ' || coalesce(last_error, '-')
    WHERE id = ANY(%(ids)s) AND status = 'failed'
    RETURNING id, operation_type, entity_id
),
interviews_again AS (
    UPDATE interviews i SET status = 'requested', updated_at = now()
    FROM retried r
    WHERE r.operation_type = 'interview.request' AND i.id::text = r.entity_id AND i.status = 'failed'
),
offers_again AS (
    UPDATE offers o SET status = 'sending', updated_at = now()
    FROM retried r
    WHERE r.operation_type = 'offer.send' AND o.id::text = r.entity_id AND o.status = 'failed'
)
SELECT id FROM retried
"""

ACTIVITY: Final = """
SELECT operation, outcome, http_status, duration_ms, error, created_at
FROM portal_activity_log
WHERE direction = 'outbound' AND entity_id = ANY(%(entity_ids)s)
ORDER BY created_at, id
LIMIT 100
"""

ENTITY: Final = """
SELECT 'interview' AS kind, status, portal_request_id AS portal_id
FROM interviews WHERE id::text = %(entity_id)s
UNION ALL
SELECT 'offer', status, portal_offer_id FROM offers WHERE id::text = %(entity_id)s
"""


@dataclass(frozen=True, slots=True)
class Skipped:
    command_id: UUID
    reason: str


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """Which rows a retry takes, and why each other one named is left."""

    retry: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def plan_retry(rows: Sequence[dict[str, Any]], *, now: datetime, force: bool) -> RetryPlan:
    """Sort ``rows`` (as :data:`BY_COMMAND` / :data:`FAILED_SINCE` give them) into those a retry
    takes and those it leaves, with the reason (module docstring)."""
    plan = RetryPlan()
    for row in rows:
        if row["status"] != "failed":
            plan.skipped.append(Skipped(row["command_id"], f"not failed (it is {row['status']})"))
        elif not row["sendable"]:
            plan.skipped.append(
                Skipped(
                    row["command_id"],
                    "refused at intake, never sent: the ATS must send a corrected command "
                    f"({row['last_error']})",
                )
            )
        elif (
            not force
            and row["first_attempt_at"] is not None
            and now - row["first_attempt_at"] > IDEMPOTENCY_WINDOW
        ):
            plan.skipped.append(
                Skipped(
                    row["command_id"],
                    "first attempted more than 24 h ago: the portal no longer remembers a success, "
                    "so a retry could act twice; check the portal, then use --force",
                )
            )
        else:
            plan.retry.append(row)
    return plan


async def list_rows(
    conn: AsyncConnection[Any],
    *,
    status: str | None = None,
    operation: str | None = None,
    candidate_id: UUID | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Rows newest first, filtered; ``since`` is on the row's last change."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            LIST,
            {
                "status": status,
                "operation": operation,
                "candidate_id": candidate_id,
                "since": since,
                "limit": limit,
            },
        )
        return await cur.fetchall()


async def rows_by_command(conn: AsyncConnection[Any], command_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(BY_COMMAND, {"command_ids": list(command_ids)})
        return await cur.fetchall()


async def failed_since(conn: AsyncConnection[Any], since: datetime | None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(FAILED_SINCE, {"since": since})
        return await cur.fetchall()


async def retry(conn: AsyncConnection[Any], rows: Sequence[dict[str, Any]], *, now: datetime) -> set[int]:
    """Put ``rows`` back (one transaction); the ids actually retried (still failed when it ran)."""
    if not rows:
        return set()
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(RETRY, {"ids": [row["id"] for row in rows], "now": now})
        return {row["id"] for row in await cur.fetchall()}


async def activity(conn: AsyncConnection[Any], entity_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The portal calls made about these entities (an interview, an offer, a candidate)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ACTIVITY, {"entity_ids": list(entity_ids)})
        return await cur.fetchall()


async def entity(conn: AsyncConnection[Any], entity_id: str) -> dict[str, Any] | None:
    """The interview or offer a row is about, if it is about one."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ENTITY, {"entity_id": entity_id})
        return await cur.fetchone()
