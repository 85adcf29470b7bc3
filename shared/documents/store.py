"""The SQL of the document flows, as named statements, and the row they read.

Every change of status is guarded by the ``sha256`` the message was about and the status it
expects, so a message about an older version of the document, or one that lost a race with its
own duplicate, changes nothing (its statement matches no row) and completes as superseded or
already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class DocumentRow:
    id: str
    candidate_id: str
    portal_candidate_id: str
    portal_document_id: str
    kind: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    download_url: str | None
    blob_path: str | None
    status: str
    attempts: int
    content_md5: str | None


LOAD = """
SELECT d.id::text, d.candidate_id::text, c.portal_candidate_id, d.portal_document_id, d.kind,
       d.file_name, d.content_type, d.size_bytes, d.sha256, d.download_url, d.blob_path, d.status,
       d.attempts, d.content_md5
FROM candidate_documents d JOIN candidates c ON c.id = d.candidate_id
WHERE d.id = %(id)s
"""

BEGIN_ATTEMPT = """
UPDATE candidate_documents SET attempts = attempts + 1, updated_at = now()
WHERE id = %(id)s AND sha256 = %(sha256)s AND status = 'pending'
RETURNING attempts
"""

# The verification message goes to the outbox in the statement that marks the row transferred.
# Its id carries the attempt count, which never repeats for a row, so the outbox's UNIQUE
# message_id never swallows the verification of a later transfer.
MARK_TRANSFERRED = """
WITH doc AS (
    UPDATE candidate_documents
    SET status = 'transferred', blob_path = %(blob_path)s, content_md5 = %(content_md5)s,
        transferred_at = now(), last_error = NULL, updated_at = now()
    WHERE id = %(id)s AND sha256 = %(sha256)s AND status = 'pending'
    RETURNING id, sha256, blob_path, attempts
), queued AS (
    INSERT INTO outbox (queue, message_id, body)
    SELECT 'document-verification', 'verify:' || doc.id || ':' || doc.sha256 || ':' || doc.attempts,
           jsonb_build_object('document_id', doc.id, 'sha256', doc.sha256, 'blob_path', doc.blob_path)
    FROM doc
    ON CONFLICT (message_id) DO NOTHING
)
SELECT id FROM doc
"""

MARK_FAILED = """
UPDATE candidate_documents SET status = 'failed', last_error = %(reason)s, updated_at = now()
WHERE id = %(id)s AND sha256 = %(sha256)s AND status = 'pending'
RETURNING id
"""

# A transient failure is noted for an operator; the row stays where it is.
NOTE_ERROR = """
UPDATE candidate_documents SET last_error = %(reason)s, updated_at = now()
WHERE id = %(id)s AND sha256 = %(sha256)s AND status IN ('pending', 'transferred', 'rejected')
"""

MARK_VERIFIED = """
UPDATE candidate_documents
SET status = 'verified', verified_at = now(), detected_type = %(detected_type)s, last_error = NULL,
    updated_at = now()
WHERE id = %(id)s AND sha256 = %(sha256)s AND status = 'transferred'
RETURNING id
"""

MARK_REJECTED = """
UPDATE candidate_documents
SET status = 'rejected', verified_at = now(), detected_type = %(detected_type)s,
    rejection_reason = %(reason)s, last_error = NULL, updated_at = now()
WHERE id = %(id)s AND sha256 = %(sha256)s AND status = 'transferred'
RETURNING id
"""

MOVED_TO_QUARANTINE = """
UPDATE candidate_documents SET blob_path = %(blob_path)s, last_error = NULL, updated_at = now()
WHERE id = %(id)s AND sha256 = %(sha256)s AND status = 'rejected'
"""

LOG_DOWNLOAD = """
INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, http_status, duration_ms, error)
VALUES ('outbound', 'GET /v1/documents/{doc_id}/content', %(entity_id)s, %(outcome)s, %(http_status)s,
        %(duration_ms)s, %(error)s)
"""

# --- ops ------------------------------------------------------------------------------------

LIST = """
SELECT d.id::text, d.portal_document_id, c.portal_candidate_id, d.kind, d.content_type, d.size_bytes,
       d.status, d.attempts, d.blob_path, coalesce(d.rejection_reason, d.last_error) AS reason,
       d.updated_at
FROM candidate_documents d JOIN candidates c ON c.id = d.candidate_id
WHERE %(status)s::text IS NULL OR d.status = %(status)s
ORDER BY d.updated_at DESC
LIMIT %(limit)s
"""

# Put a failed (or rejected) document back to pending and queue a transfer through the outbox,
# in one statement. The message id carries the attempt count: a second retry is a new message.
RETRY = """
WITH doc AS (
    UPDATE candidate_documents
    SET status = 'pending', last_error = NULL, rejection_reason = NULL, blob_path = NULL,
        updated_at = now()
    WHERE status = ANY(%(statuses)s::text[])
      AND (%(every)s OR id = ANY(%(ids)s::uuid[]) OR portal_document_id = ANY(%(portal_ids)s::text[]))
    RETURNING id, portal_document_id, sha256, attempts
), queued AS (
    INSERT INTO outbox (queue, message_id, body)
    SELECT 'document-transfers', 'retry:' || doc.id || ':' || doc.sha256 || ':' || doc.attempts,
           jsonb_build_object('document_id', doc.id, 'portal_document_id', doc.portal_document_id,
                              'sha256', doc.sha256, 'source_event_id', NULL)
    FROM doc
    ON CONFLICT (message_id) DO NOTHING
)
SELECT id::text AS document_id, portal_document_id FROM doc ORDER BY portal_document_id
"""


async def load(conn: psycopg.AsyncConnection[Any], document_id: str) -> DocumentRow | None:
    async with conn.cursor(row_factory=class_row(DocumentRow)) as cursor:
        await cursor.execute(LOAD, {"id": document_id})
        return await cursor.fetchone()
