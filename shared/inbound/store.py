"""SQL of the inbound flow: the statements the processor runs, nothing else.

Kept apart from the decisions (``shared.inbound.apply``) so that each can be read on its own.
Bulk statements use ``unnest`` over arrays: one round trip for a whole batch. Their arrays are
sent in binary (``%b``): in text format psycopg escapes every element with a regular
expression, which for a batch of JSON payloads cost more than the rest of the statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from shared.db import dumps_json
from shared.inbound.changes import Profile

INSERT_EVENTS = """
INSERT INTO webhook_events (event_type, event_id, payload, processed, status, attempts, last_error,
                            received_at, processed_at)
SELECT t.event_type, t.event_id, t.payload::jsonb, t.status <> 'failed', t.status, t.attempts,
       t.last_error, t.received_at, now()
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::int[], %b::text[], %b::timestamptz[])
     AS t(event_type, event_id, payload, status, attempts, last_error, received_at)
ORDER BY t.event_id
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


MARK_FAILED = """
UPDATE webhook_events SET status = 'failed', processed = false, last_error = %s WHERE event_id = %s
"""

# Event ids already recorded ('e') and candidates already held ('c'), in one round trip.
LOOKUP = """
SELECT 'e', event_id FROM webhook_events WHERE event_id = ANY(%s)
UNION ALL
SELECT 'c', portal_candidate_id FROM candidates WHERE portal_candidate_id = ANY(%s)
"""

# A profile that names its ATS id (``ats_candidate_id``: the ATS created this candidate) keeps
# it as ``candidates.id``, unless another candidate holds that id already.
INSERT_NEW_CANDIDATES = """
INSERT INTO candidates (id, portal_candidate_id, first_name, last_name, email, phone, requisition_id,
                        stage, profile, profile_updated_at)
SELECT CASE WHEN t.ats_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM candidates c WHERE c.id = t.ats_id)
            THEN t.ats_id ELSE gen_random_uuid() END,
       t.pid, t.first_name, t.last_name, t.email, t.phone, t.requisition_id, 'new', t.profile::jsonb,
       t.updated_at
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::text[], %b::timestamptz[])
     AS t(ats_id, pid, first_name, last_name, email, phone, requisition_id, profile, updated_at)
ORDER BY t.pid
ON CONFLICT DO NOTHING
RETURNING id, portal_candidate_id
"""

LOCK_CANDIDATES = """
SELECT id, portal_candidate_id, stage, needs_review, profile_updated_at
FROM candidates WHERE portal_candidate_id = ANY(%s)
ORDER BY portal_candidate_id
FOR UPDATE
"""

UPDATE_PROFILE = """
UPDATE candidates SET first_name = %s, last_name = %s, email = %s, phone = %s, requisition_id = %s,
                      profile = %s, profile_updated_at = %s, updated_at = now()
WHERE id = %s
"""

UPDATE_STAGE = "UPDATE candidates SET stage = %s, needs_review = %s, updated_at = now() WHERE id = %s"

INSERT_HISTORY = """
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
VALUES (%s, %s, %s, %s, %s)
"""

INSERT_ASSESSMENT = """
INSERT INTO portal_assessments (candidate_id, assessment_type, status, score, max_score, passed,
                                portal_assessment_id, completed_at, band, recommendation, details,
                                source_event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (portal_assessment_id) DO NOTHING
"""

# A document already held with the same sha256 is a no-op; a new file under the same id is
# transferred again. The transfer message goes to the outbox in the same statement.
UPSERT_DOCUMENT = """
WITH doc AS (
    INSERT INTO candidate_documents (candidate_id, portal_document_id, kind, file_name, content_type,
                                     size_bytes, sha256, download_url, uploaded_at)
    VALUES (%(candidate_id)s, %(portal_document_id)s, %(kind)s, %(file_name)s, %(content_type)s,
            %(size_bytes)s, %(sha256)s, %(download_url)s, %(uploaded_at)s)
    ON CONFLICT (portal_document_id) DO UPDATE
        SET kind = EXCLUDED.kind, file_name = EXCLUDED.file_name, content_type = EXCLUDED.content_type,
            size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, download_url = EXCLUDED.download_url,
            uploaded_at = EXCLUDED.uploaded_at, status = 'pending', blob_path = NULL, last_error = NULL,
            updated_at = now()
        WHERE candidate_documents.sha256 <> EXCLUDED.sha256
    RETURNING id, portal_document_id, sha256
)
INSERT INTO outbox (queue, message_id, body)
SELECT 'document-transfers', 'transfer:' || doc.portal_document_id || ':' || doc.sha256,
       jsonb_build_object('document_id', doc.id, 'portal_document_id', doc.portal_document_id,
                          'sha256', doc.sha256, 'source_event_id', %(event_id)s::text)
FROM doc
ON CONFLICT (message_id) DO NOTHING
"""

INSERT_ACTIVITY = """
INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, error)
SELECT 'inbound', t.operation, t.entity_id, t.outcome, t.error
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS t(operation, entity_id, outcome, error)
"""


@dataclass(slots=True)
class CandidateRow:
    """The part of a candidate the rules read and change, locked for the batch."""

    id: UUID
    portal_candidate_id: str
    stage: str
    needs_review: bool
    profile_updated_at: datetime | None


async def lock_candidates(conn: AsyncConnection[Any], portal_ids: Sequence[str]) -> dict[str, CandidateRow]:
    cursor = await conn.execute(LOCK_CANDIDATES, (list(portal_ids),))
    return {row[1]: CandidateRow(*row) for row in await cursor.fetchall()}


async def insert_new_candidates(conn: AsyncConnection[Any], profiles: Sequence[Profile]) -> dict[str, UUID]:
    """Insert candidates not yet held (stage ``new``); return the ids of those this call created."""
    if not profiles:
        return {}
    columns: list[list[Any]] = [[], [], [], [], [], [], [], [], []]
    for p in profiles:
        values = (
            p.ats_candidate_id,
            p.portal_candidate_id,
            p.first_name,
            p.last_name,
            p.email,
            p.phone,
            p.requisition_id,
            dumps_json(p.document),
            p.updated_at,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    cursor = await conn.execute(INSERT_NEW_CANDIDATES, columns)
    return {row[1]: row[0] for row in await cursor.fetchall()}


LOCK_INTERVIEWS = (
    "SELECT id, status, status_event_at FROM interviews WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)

UPSERT_INTERVIEW = """
INSERT INTO interviews (id, candidate_id, portal_interview_id, status, scheduled_start, scheduled_end,
                        timezone, meeting_url, status_event_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE
    SET portal_interview_id = EXCLUDED.portal_interview_id, status = EXCLUDED.status,
        scheduled_start = COALESCE(EXCLUDED.scheduled_start, interviews.scheduled_start),
        scheduled_end = COALESCE(EXCLUDED.scheduled_end, interviews.scheduled_end),
        timezone = COALESCE(EXCLUDED.timezone, interviews.timezone),
        meeting_url = COALESCE(EXCLUDED.meeting_url, interviews.meeting_url),
        status_event_at = EXCLUDED.status_event_at, updated_at = now()
"""

LOCK_OFFERS = "SELECT id, status FROM offers WHERE id = ANY(%s) ORDER BY id FOR UPDATE"

UPSERT_OFFER = """
INSERT INTO offers (id, candidate_id, portal_offer_id, status, responded_at, details)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE
    SET portal_offer_id = EXCLUDED.portal_offer_id, status = EXCLUDED.status,
        responded_at = EXCLUDED.responded_at,
        details = COALESCE(offers.details, '{}'::jsonb) || EXCLUDED.details, updated_at = now()
"""


async def lock_interviews(
    conn: AsyncConnection[Any], ids: Sequence[UUID]
) -> dict[UUID, tuple[str, datetime | None]]:
    if not ids:
        return {}
    cursor = await conn.execute(LOCK_INTERVIEWS, (list(ids),))
    return {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}


async def lock_offers(conn: AsyncConnection[Any], ids: Sequence[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    cursor = await conn.execute(LOCK_OFFERS, (list(ids),))
    return {row[0]: row[1] for row in await cursor.fetchall()}


# --- set-based forms of the per-event statements (the pipelined path) -----------------------
#
# ``apply.decide`` speaks in single-row statements. On the pipelined path the processor hands
# them to :func:`coalesce`, which turns every run of the frequent kinds into one statement over
# arrays: fewer statements to encode, send, parse and execute, and the batch's final rows are
# the same. Rows are inserted in the order the events were decided (``WITH ORDINALITY``), and
# for the two ``UPDATE``s of ``candidates`` only the last one per candidate is kept: each sets
# absolute values decided on the locked row, so the last one is what the sequence leaves.
# Statements of other kinds (documents, interviews, offers) go as they are, after these; they
# touch other tables, so the order between kinds does not change any row.

BULK_UPDATE_PROFILES = """
UPDATE candidates AS c
SET first_name = t.first_name, last_name = t.last_name, email = t.email, phone = t.phone,
    requisition_id = t.requisition_id, profile = t.profile::jsonb, profile_updated_at = t.updated_at,
    updated_at = now()
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[],
            %b::uuid[])
     AS t(first_name, last_name, email, phone, requisition_id, profile, updated_at, id)
WHERE c.id = t.id
"""

BULK_UPDATE_STAGES = """
UPDATE candidates AS c SET stage = t.stage, needs_review = t.needs_review, updated_at = now()
FROM unnest(%b::text[], %b::bool[], %b::uuid[]) AS t(stage, needs_review, id)
WHERE c.id = t.id
"""

BULK_INSERT_HISTORY = """
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
SELECT t.candidate_id, t.from_stage, t.to_stage, t.reason, t.source_event_id
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY
     AS t(candidate_id, from_stage, to_stage, reason, source_event_id, n)
ORDER BY t.n
"""

BULK_INSERT_ASSESSMENTS = """
INSERT INTO portal_assessments (candidate_id, assessment_type, status, score, max_score, passed,
                                portal_assessment_id, completed_at, band, recommendation, details,
                                source_event_id)
SELECT t.candidate_id, t.assessment_type, t.status, t.score, t.max_score, t.passed,
       t.portal_assessment_id, t.completed_at, t.band, t.recommendation, t.details::jsonb,
       t.source_event_id
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::numeric[], %b::numeric[], %b::bool[], %b::text[],
            %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY
     AS t(candidate_id, assessment_type, status, score, max_score, passed, portal_assessment_id,
          completed_at, band, recommendation, details, source_event_id, n)
ORDER BY t.n
ON CONFLICT (portal_assessment_id) DO NOTHING
"""

#: single-row statement -> (set-based statement, index of the candidate id when only the last
#: statement per candidate counts, else None)
_BULK: dict[str, tuple[str, int | None]] = {
    UPDATE_PROFILE: (BULK_UPDATE_PROFILES, 7),
    UPDATE_STAGE: (BULK_UPDATE_STAGES, 2),
    INSERT_HISTORY: (BULK_INSERT_HISTORY, None),
    INSERT_ASSESSMENT: (BULK_INSERT_ASSESSMENTS, None),
}


def _column_value(value: Any) -> Any:
    return dumps_json(value.obj) if isinstance(value, Jsonb) else value


def coalesce(statements: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The same effects as ``statements`` run in order, in as few statements as possible."""
    grouped: dict[str, list[Sequence[Any]]] = {}
    rest: list[tuple[str, Any]] = []
    for sql, params in statements:
        if sql in _BULK and isinstance(params, tuple):
            grouped.setdefault(sql, []).append(params)
        else:
            rest.append((sql, params))
    out: list[tuple[str, Any]] = []
    for sql, rows in grouped.items():
        bulk, key = _BULK[sql]
        if key is not None:  # the last statement per candidate, in the order they came
            rows = list({row[key]: row for row in rows}.values())
        if len(rows) == 1:
            out.append((sql, rows[0]))
            continue
        columns: list[list[Any]] = [[] for _ in rows[0]]
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                column.append(_column_value(value))
        out.append((bulk, columns))
    return out + rest
