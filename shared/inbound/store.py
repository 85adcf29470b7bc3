"""SQL of the inbound flow, as named statements with typed parameters.

Every write an event can make is one :class:`Statement`: its name, the SQL for one row (named
parameters, the fields of its row class in :mod:`shared.inbound.writes`) and, where the batch
may merge rows, the SQL for many (one ``unnest`` over arrays, in the row class's field order,
sent in binary: in text format psycopg escapes every element with a regular expression, which
for a batch of JSON cost more than the statement). :data:`STATEMENTS` maps each row class to its
statement; :func:`execute` runs a list of rows either merged (the fast path) or one by one (the
per-event path), with the same effect.

Why merging keeps the effect: rows are inserted in the order they were decided (``WITH
ORDINALITY``), and for the absolute ``UPDATE``s of ``candidates`` only the last row per
candidate is kept (``last_per``), which is what running them in order leaves. Statements of
different row classes touch different tables or columns, so their order does not matter.
Upserts whose rows may meet the same key twice in one batch (documents, interviews, offers) have
no merged form: PostgreSQL refuses to update one row twice in a statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from shared.db import dumps_json
from shared.inbound.changes import Profile
from shared.inbound.writes import (
    AssessmentRow,
    DocumentUpload,
    InterviewAnswerRow,
    OfferAnswerRow,
    ProfileUpdate,
    StageHistoryRow,
    StageUpdate,
    Write,
)


@dataclass(frozen=True, slots=True)
class Statement:
    name: str
    one: str
    many: str | None = None
    last_per: str | None = None  # keep only the last row per this field when merging


PROFILE_UPDATE = Statement(
    "profile_update",
    one="""
UPDATE candidates SET first_name = %(first_name)s, last_name = %(last_name)s, email = %(email)s,
       phone = %(phone)s, requisition_id = %(requisition_id)s, profile = %(profile)s,
       profile_updated_at = %(updated_at)s, updated_at = now()
WHERE id = %(candidate_id)s
""",
    many="""
UPDATE candidates AS c
SET first_name = t.first_name, last_name = t.last_name, email = t.email, phone = t.phone,
    requisition_id = t.requisition_id, profile = t.profile::jsonb, profile_updated_at = t.updated_at,
    updated_at = now()
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::timestamptz[])
     AS t(candidate_id, first_name, last_name, email, phone, requisition_id, profile, updated_at)
WHERE c.id = t.candidate_id
""",
    last_per="candidate_id",
)

STAGE_UPDATE = Statement(
    "stage_update",
    one="""
UPDATE candidates SET stage = %(stage)s, needs_review = %(needs_review)s, updated_at = now()
WHERE id = %(candidate_id)s
""",
    many="""
UPDATE candidates AS c SET stage = t.stage, needs_review = t.needs_review, updated_at = now()
FROM unnest(%b::uuid[], %b::text[], %b::bool[]) AS t(candidate_id, stage, needs_review)
WHERE c.id = t.candidate_id
""",
    last_per="candidate_id",
)

STAGE_HISTORY = Statement(
    "stage_history",
    one="""
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
VALUES (%(candidate_id)s, %(from_stage)s, %(to_stage)s, %(reason)s, %(source_event_id)s)
""",
    many="""
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
SELECT t.candidate_id, t.from_stage, t.to_stage, t.reason, t.source_event_id
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[]) WITH ORDINALITY
     AS t(candidate_id, from_stage, to_stage, reason, source_event_id, n)
ORDER BY t.n
""",
)

ASSESSMENT = Statement(
    "assessment",
    one="""
INSERT INTO portal_assessments (candidate_id, assessment_type, status, score, max_score, passed,
                                portal_assessment_id, completed_at, band, recommendation, details,
                                source_event_id)
VALUES (%(candidate_id)s, %(assessment_type)s, %(status)s, %(score)s, %(max_score)s, %(passed)s,
        %(portal_assessment_id)s, %(completed_at)s, %(band)s, %(recommendation)s, %(details)s,
        %(source_event_id)s)
ON CONFLICT (portal_assessment_id) DO NOTHING
""",
    many="""
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
""",
)

# A document already held with the same sha256 is a no-op; a new file under the same id starts
# over (pending, no blob). Each upload that changes the row gets its own transfer message, named
# by its event (A → B → A transfers three times; duplicate detection cannot confuse them).
DOCUMENT_UPLOAD = Statement(
    "document_upload",
    one="""
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
SELECT 'document-transfers', 'transfer:' || %(source_event_id)s::text,
       jsonb_build_object('document_id', doc.id, 'portal_document_id', doc.portal_document_id,
                          'sha256', doc.sha256, 'source_event_id', %(source_event_id)s::text)
FROM doc
ON CONFLICT (message_id) DO NOTHING
""",
)

INTERVIEW_ANSWER = Statement(
    "interview_answer",
    one="""
INSERT INTO interviews (id, candidate_id, portal_interview_id, status, scheduled_start, scheduled_end,
                        timezone, meeting_url, status_event_at)
VALUES (%(id)s, %(candidate_id)s, %(portal_interview_id)s, %(status)s, %(scheduled_start)s,
        %(scheduled_end)s, %(timezone)s, %(meeting_url)s, %(status_event_at)s)
ON CONFLICT (id) DO UPDATE
    SET portal_interview_id = EXCLUDED.portal_interview_id, status = EXCLUDED.status,
        scheduled_start = COALESCE(EXCLUDED.scheduled_start, interviews.scheduled_start),
        scheduled_end = COALESCE(EXCLUDED.scheduled_end, interviews.scheduled_end),
        timezone = COALESCE(EXCLUDED.timezone, interviews.timezone),
        meeting_url = COALESCE(EXCLUDED.meeting_url, interviews.meeting_url),
        status_event_at = EXCLUDED.status_event_at, updated_at = now()
""",
)

OFFER_ANSWER = Statement(
    "offer_answer",
    one="""
INSERT INTO offers (id, candidate_id, portal_offer_id, status, responded_at, details)
VALUES (%(id)s, %(candidate_id)s, %(portal_offer_id)s, %(status)s, %(responded_at)s, %(details)s)
ON CONFLICT (id) DO UPDATE
    SET portal_offer_id = EXCLUDED.portal_offer_id, status = EXCLUDED.status,
        responded_at = EXCLUDED.responded_at,
        details = COALESCE(offers.details, '{}'::jsonb) || EXCLUDED.details, updated_at = now()
""",
)

#: Each row class and the statement that writes it.
STATEMENTS: dict[type[Write], Statement] = {
    ProfileUpdate: PROFILE_UPDATE,
    StageUpdate: STAGE_UPDATE,
    StageHistoryRow: STAGE_HISTORY,
    AssessmentRow: ASSESSMENT,
    DocumentUpload: DOCUMENT_UPLOAD,
    InterviewAnswerRow: INTERVIEW_ANSWER,
    OfferAnswerRow: OFFER_ANSWER,
}


def _one_params(row: Write) -> dict[str, Any]:
    return {
        f.name: Jsonb(value) if isinstance(value := getattr(row, f.name), dict) else value
        for f in fields(row)
    }


def _columns(rows: Sequence[Write]) -> list[list[Any]]:
    names = [f.name for f in fields(rows[0])]
    return [
        [dumps_json(v) if isinstance(v := getattr(row, name), dict) else v for row in rows] for name in names
    ]


def merged(writes: Sequence[Write]) -> list[tuple[str, Any]]:
    """The statements and parameters that have the effect of ``writes`` run in order, merged."""
    grouped: dict[type[Write], list[Write]] = {}
    for row in writes:
        grouped.setdefault(type(row), []).append(row)
    out: list[tuple[str, Any]] = []
    for kind, rows in grouped.items():
        statement = STATEMENTS[kind]
        if statement.last_per is not None:
            key = statement.last_per
            rows = list({getattr(row, key): row for row in rows}.values())
        if statement.many is None or len(rows) == 1:
            out.extend((statement.one, _one_params(row)) for row in rows)
        else:
            out.append((statement.many, _columns(rows)))
    return out


def one_by_one(writes: Sequence[Write]) -> list[tuple[str, Any]]:
    """The same rows as single-row statements, in order (the per-event path)."""
    return [(STATEMENTS[type(row)].one, _one_params(row)) for row in writes]


# --- the event record, the activity log, lookups and locks ----------------------------------

RECORD_EVENTS = """
INSERT INTO webhook_events (event_type, event_id, payload, processed, status, attempts, last_error,
                            received_at, processed_at, portal_candidate_id)
SELECT t.event_type, t.event_id, t.payload::jsonb, t.status <> 'failed', t.status, t.attempts,
       t.last_error, t.received_at, now(), t.portal_candidate_id
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::int[], %b::text[], %b::timestamptz[],
            %b::text[])
     AS t(event_type, event_id, payload, status, attempts, last_error, received_at, portal_candidate_id)
ORDER BY t.event_id
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

RECORD_EVENT = """
INSERT INTO webhook_events (event_type, event_id, payload, processed, status, attempts, last_error,
                            received_at, processed_at, portal_candidate_id)
VALUES (%(event_type)s, %(event_id)s, %(payload)s::jsonb, %(status)s <> 'failed', %(status)s,
        %(attempts)s, %(last_error)s, %(received_at)s, now(), %(portal_candidate_id)s)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

#: The final status of events whose decision was not "processed" (recorded as processed first:
#: the record is what tells a duplicate apart, so it is written before the decision).
SETTLE_EVENTS = """
UPDATE webhook_events AS w
SET status = t.status, processed = t.status <> 'failed', last_error = t.reason
FROM unnest(%b::text[], %b::text[], %b::text[]) AS t(event_id, status, reason)
WHERE w.event_id = t.event_id
"""

LOG_ACTIVITY = """
INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, error)
SELECT 'inbound', t.operation, t.entity_id, t.outcome, t.error
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS t(operation, entity_id, outcome, error)
"""

# Event ids already recorded ('e'), candidates already held ('c') and candidates erased at their
# request ('x'), in one round trip.
LOOKUP = """
SELECT 'e', event_id FROM webhook_events WHERE event_id = ANY(%(events)s)
UNION ALL
SELECT 'c', portal_candidate_id FROM candidates WHERE portal_candidate_id = ANY(%(candidates)s)
UNION ALL
SELECT 'x', portal_candidate_id FROM erased_candidates WHERE portal_candidate_id = ANY(%(candidates)s)
"""

# Operator recovery (docs/operations.md, "Recovery"): a replayed event's failed record is
# removed in the transaction that records it again, so the record statement sees it as new. Only
# a `failed` record is reopened: an event that applied is never applied twice.
REOPEN_FAILED = """
DELETE FROM webhook_events WHERE event_id = ANY(%s) AND status = 'failed' RETURNING event_id
"""

# A profile that names its ATS id (``ats_candidate_id``: the ATS created this candidate) keeps
# it as ``candidates.id`` unless another candidate holds it; such a candidate is inserted again
# without it (:func:`insert_new_candidates`).
INSERT_NEW_CANDIDATES = """
INSERT INTO candidates (id, portal_candidate_id, first_name, last_name, email, phone, requisition_id,
                        stage, profile, profile_updated_at)
SELECT COALESCE(t.ats_id, gen_random_uuid()), t.pid, t.first_name, t.last_name, t.email, t.phone,
       t.requisition_id, 'new', t.profile::jsonb, t.updated_at
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::text[], %b::timestamptz[])
     AS t(ats_id, pid, first_name, last_name, email, phone, requisition_id, profile, updated_at)
ORDER BY t.pid
ON CONFLICT DO NOTHING
RETURNING id, portal_candidate_id
"""

HELD_CANDIDATES = "SELECT portal_candidate_id FROM candidates WHERE portal_candidate_id = ANY(%s)"

LOCK_CANDIDATES = """
SELECT id, portal_candidate_id, stage, needs_review, profile_updated_at
FROM candidates WHERE portal_candidate_id = ANY(%s)
ORDER BY portal_candidate_id
FOR UPDATE
"""

LOCK_INTERVIEWS = """
SELECT id, candidate_id, status, status_event_at FROM interviews WHERE id = ANY(%s) ORDER BY id FOR UPDATE
"""

LOCK_OFFERS = "SELECT id, candidate_id, status FROM offers WHERE id = ANY(%s) ORDER BY id FOR UPDATE"


@dataclass(slots=True)
class CandidateRow:
    """The part of a candidate the rules read and change, locked for the batch."""

    id: UUID
    portal_candidate_id: str
    stage: str
    needs_review: bool
    profile_updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class AnswerTarget:
    """An interview or offer row as the answers see it: whose it is, and where it stands."""

    candidate_id: UUID
    status: str
    status_event_at: datetime | None = None


async def lock_candidates(conn: AsyncConnection[Any], portal_ids: Sequence[str]) -> dict[str, CandidateRow]:
    cursor = await conn.execute(LOCK_CANDIDATES, (list(portal_ids),))
    return {row[1]: CandidateRow(*row) for row in await cursor.fetchall()}


async def lock_interviews(conn: AsyncConnection[Any], ids: Sequence[UUID]) -> dict[UUID, AnswerTarget]:
    if not ids:
        return {}
    cursor = await conn.execute(LOCK_INTERVIEWS, (list(ids),))
    return {row[0]: AnswerTarget(row[1], row[2], row[3]) for row in await cursor.fetchall()}


async def lock_offers(conn: AsyncConnection[Any], ids: Sequence[UUID]) -> dict[UUID, AnswerTarget]:
    if not ids:
        return {}
    cursor = await conn.execute(LOCK_OFFERS, (list(ids),))
    return {row[0]: AnswerTarget(row[1], row[2]) for row in await cursor.fetchall()}


def _candidate_columns(profiles: Sequence[Profile], *, with_ats_id: bool) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(9)]
    for p in profiles:
        values = (
            p.ats_candidate_id if with_ats_id else None,
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
    return columns


async def insert_new_candidates(conn: AsyncConnection[Any], profiles: Sequence[Profile]) -> dict[str, UUID]:
    """Insert candidates not yet held (stage ``new``); the ids of those this call created.

    A profile keeps the ATS id it names unless that id is taken, by a candidate already held, by
    another profile of this batch (the first in portal id order keeps it) or by a concurrent
    batch: such a candidate is stored all the same, under an id of its own.
    """
    if not profiles:
        return {}
    claimed: set[UUID] = set()
    firsts: list[Profile] = []
    for profile in sorted(profiles, key=lambda p: p.portal_candidate_id):
        if profile.ats_candidate_id is not None and profile.ats_candidate_id not in claimed:
            claimed.add(profile.ats_candidate_id)
            firsts.append(profile)
        else:
            firsts.append(replace(profile, ats_candidate_id=None))
    cursor = await conn.execute(INSERT_NEW_CANDIDATES, _candidate_columns(firsts, with_ats_id=True))
    created = {row[1]: row[0] for row in await cursor.fetchall()}
    missing = [p for p in firsts if p.portal_candidate_id not in created]
    if missing:
        cursor = await conn.execute(HELD_CANDIDATES, ([p.portal_candidate_id for p in missing],))
        held = {row[0] for row in await cursor.fetchall()}
        again = [p for p in missing if p.portal_candidate_id not in held]
        if again:  # refused for their ATS id alone: store them under ids of their own
            cursor = await conn.execute(INSERT_NEW_CANDIDATES, _candidate_columns(again, with_ats_id=False))
            created.update({row[1]: row[0] for row in await cursor.fetchall()})
    return created
