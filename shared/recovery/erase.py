"""A candidate's personal data erased at their request (GDPR), and a tombstone left behind.

``python -m ops candidates erase PORTAL_ID`` does, in one transaction:

* the **tombstone**: ``erased_candidates`` (portal id, the ATS id it had, when). From then on
  the processor ignores every event about the candidate (reason ``erased``) without storing its
  payload, so a re-sent or still-queued event cannot bring the data back;
* **scrubs** every stored copy of what the portal sent about them: ``webhook_events.payload``
  (their events, found by ``portal_candidate_id``, and unreadable ones whose payload names
  them) becomes ``{}``, ``rejected_deliveries.payload`` ``NULL``, ``parked_messages.body`` and
  ``sync_queue.payload`` (the ATS's commands about them: offers, interviewers) a marker; an
  unfinished command about them ends ``failed`` (``candidate erased``);
* **deletes** the candidate's ATS rows: ``candidates`` and, with it (``ON DELETE CASCADE``), the
  stage history, assessments, interviews, offers and documents, and unsent transfers of those
  documents in the outbox;
* writes an **audit record** without personal data (the portal id, the ATS id, how many rows of
  each table).

Event ids, types, statuses and reasons stay (ids and field names only, never values): the
history of what happened remains, not what it said. After the commit, the candidate's blobs are
deleted (``{ATS id}/...`` and ``quarantine/{ATS id}/...``), and the dead letters of
``portal-events`` that name them are resubmitted, so the processor drops them as erased.
Blob Storage's soft delete keeps deleted blobs for its retention (``documentsSoftDeleteDays``, 30
days in ``infra/``) before it purges them; the audit record states that date. Running the
command again finishes what an interrupted run left (blobs, dead letters): it is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from shared.documents.naming import QUARANTINE_PREFIX
from shared.recovery import audit

ACTION = "candidates.erase"
#: What infra/ sets as the documents account's soft-delete retention (documentsSoftDeleteDays).
SOFT_DELETE_DAYS = 30

CANDIDATE = "SELECT id FROM candidates WHERE portal_candidate_id = %(portal_id)s FOR UPDATE"
TOMBSTONE = "SELECT candidate_id, erased_at FROM erased_candidates WHERE portal_candidate_id = %(portal_id)s"

# Each statement: what it scrubs, as (table, SQL). %(needle)s is the portal id as a JSON string
# ('"cand_..."'), %(ats_id)s the ATS id as text: both only ever appear as values of ids.
SCRUB: tuple[tuple[str, str], ...] = (
    (
        "webhook_events",
        """
UPDATE webhook_events SET payload = '{}'::jsonb
WHERE payload <> '{}'::jsonb
  AND (portal_candidate_id = %(portal_id)s
       OR (portal_candidate_id IS NULL AND strpos(payload::text, %(needle)s) > 0))
""",
    ),
    (
        "rejected_deliveries",
        """
UPDATE rejected_deliveries SET payload = NULL
WHERE payload IS NOT NULL AND strpos(payload::text, %(needle)s) > 0
""",
    ),
    (
        "parked_messages",
        """
UPDATE parked_messages SET body = '{"erased": true}'::jsonb
WHERE strpos(body::text, %(needle)s) > 0
   OR (%(ats_id)s::text IS NOT NULL AND strpos(body::text, %(ats_id)s) > 0)
""",
    ),
    (
        "sync_queue",
        """
UPDATE sync_queue
SET payload = '{"erased": true}'::jsonb,
    status = CASE WHEN status IN ('pending', 'processing') THEN 'failed' ELSE status END,
    last_error = CASE WHEN status IN ('pending', 'processing') THEN 'candidate erased' ELSE last_error END,
    next_retry = NULL, lease_until = NULL
WHERE payload <> '{"erased": true}'::jsonb
  AND (strpos(payload::text, %(needle)s) > 0
       OR (%(ats_id)s::text IS NOT NULL AND strpos(payload::text, %(ats_id)s) > 0))
""",
    ),
    (
        "outbox",
        """
DELETE FROM outbox
WHERE sent_at IS NULL
  AND body ->> 'document_id' IN (
      SELECT id::text FROM candidate_documents WHERE candidate_id = %(ats_id)s::uuid)
""",
    ),
    ("candidates", "DELETE FROM candidates WHERE id = %(ats_id)s::uuid"),
)

# Rows the cascade removes with the candidate, counted first for the audit record.
CASCADE_COUNTS = """
SELECT (SELECT count(*) FROM candidate_stage_history WHERE candidate_id = %(ats_id)s::uuid)
           AS candidate_stage_history,
       (SELECT count(*) FROM portal_assessments WHERE candidate_id = %(ats_id)s::uuid) AS portal_assessments,
       (SELECT count(*) FROM interviews WHERE candidate_id = %(ats_id)s::uuid) AS interviews,
       (SELECT count(*) FROM offers WHERE candidate_id = %(ats_id)s::uuid) AS offers,
       (SELECT count(*) FROM candidate_documents WHERE candidate_id = %(ats_id)s::uuid) AS candidate_documents
"""

RECORD_TOMBSTONE = """
INSERT INTO erased_candidates (portal_candidate_id, candidate_id) VALUES (%(portal_id)s, %(ats_id)s::uuid)
ON CONFLICT (portal_candidate_id) DO NOTHING
"""


class CandidateBlobs(Protocol):
    """The documents container, as erasure uses it (tested against Azurite)."""

    async def names(self, prefix: str) -> list[str]: ...

    async def delete(self, name: str) -> None: ...


@dataclass(slots=True)
class Erasure:
    portal_id: str
    ats_id: str | None
    rows: dict[str, int] = field(default_factory=dict)
    blobs: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    already_erased: bool = False
    soft_deleted_until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "portal_candidate_id": self.portal_id,
            "ats_candidate_id": self.ats_id,
            "already_erased": self.already_erased,
            "rows": self.rows,
            "blobs": len(self.blobs),
            "dead_letters_resubmitted": self.dead_letters,
            "soft_deleted_blobs_purged_by": self.soft_deleted_until,
        }


def _params(portal_id: str, ats_id: str | None) -> dict[str, Any]:
    return {"portal_id": portal_id, "needle": f'"{portal_id}"', "ats_id": ats_id}


async def erase_rows(
    conn: AsyncConnection[Any], portal_id: str, *, apply: bool, actor: str, now: datetime
) -> Erasure:
    """The database part, in one transaction (rolled back for a dry run, counts kept)."""
    async with conn.transaction() as tx:
        async with conn.cursor(row_factory=dict_row) as cursor:
            held = await (await cursor.execute(CANDIDATE, {"portal_id": portal_id})).fetchone()
            tombstone = await (await cursor.execute(TOMBSTONE, {"portal_id": portal_id})).fetchone()
            ats_id = (
                str(held["id"])
                if held
                else (str(tombstone["candidate_id"]) if tombstone and tombstone["candidate_id"] else None)
            )
            erasure = Erasure(portal_id, ats_id, already_erased=tombstone is not None)
            params = _params(portal_id, ats_id)
            if ats_id is not None:
                cascade = await (await cursor.execute(CASCADE_COUNTS, params)).fetchone()
                erasure.rows.update({name: int(n) for name, n in (cascade or {}).items()})
        for table, sql in SCRUB:
            if table in ("outbox", "candidates") and ats_id is None:
                continue
            cursor2 = await conn.execute(sql, params)
            erasure.rows[table] = cursor2.rowcount
        await conn.execute(RECORD_TOMBSTONE, params)
        erasure.soft_deleted_until = now + timedelta(days=SOFT_DELETE_DAYS)
        if not apply:
            raise psycopg.Rollback(tx)
        await audit.record(
            conn,
            ACTION,
            portal_id,
            {
                "ats_candidate_id": ats_id,
                "rows": erasure.rows,
                "soft_deleted_blobs_purged_by": erasure.soft_deleted_until.isoformat(),
            },
            actor=actor,
        )
    return erasure


def blob_prefixes(ats_id: str | None) -> list[str]:
    """The candidate's blobs: ``{ATS id}/...`` and their quarantined copies."""
    if ats_id is None:
        return []
    UUID(ats_id)  # a UUID, never a prefix that could match another candidate's blobs
    return [f"{ats_id}/", f"{QUARANTINE_PREFIX}{ats_id}/"]


async def erase_blobs(blobs: CandidateBlobs, ats_id: str | None, *, apply: bool) -> list[str]:
    names = [name for prefix in blob_prefixes(ats_id) for name in await blobs.names(prefix)]
    if apply:
        for name in names:
            await blobs.delete(name)
    return names


def names_candidate(body: bytes, portal_id: str) -> bool:
    return f'"{portal_id}"'.encode() in body


def summary(erasure: Erasure) -> Mapping[str, int]:
    return {table: n for table, n in erasure.rows.items() if n}


class AzureCandidateBlobs:
    """:class:`CandidateBlobs` over the SDK's container client."""

    def __init__(self, container: Any) -> None:
        self._container = container

    async def names(self, prefix: str) -> list[str]:
        return [blob.name async for blob in self._container.list_blobs(name_starts_with=prefix)]

    async def delete(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self._container.get_blob_client(name).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            return
