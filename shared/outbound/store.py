"""SQL of the outbound flow, as named statements: ``sync_queue`` and the rows a command touches.

Times come from the dispatcher's clock as parameters (never ``now()``), so tests that move the
clock move the queue with it. The dispatcher sends each transaction's statements pipelined (one
round trip for its reads, one for its writes), so a statement that depends on an earlier one's
effect says so in SQL (a subquery, a guard), not through a value fetched in between.

Locks are always taken in one order, the inbound processor's too: the candidate, then its
``sync_queue`` rows, then the interview or offer. The replay's claim takes only ``sync_queue``
rows, and skips those another worker holds.
"""

from __future__ import annotations

from typing import Final

# --- intake ---------------------------------------------------------------------------------

LOCK_CANDIDATE: Final = "SELECT id, portal_candidate_id, stage FROM candidates WHERE id = %s FOR UPDATE"

#: The candidate's unfinished rows, locked in id order (a claim in flight is waited for).
LOCK_OPEN_ROWS: Final = """
SELECT id, operation_type, status FROM sync_queue
WHERE candidate_id = %s AND status IN ('pending', 'processing')
ORDER BY id
FOR UPDATE
"""

INSERT_ROW: Final = """
INSERT INTO sync_queue (command_id, operation_type, entity_id, candidate_id, payload, status,
                        retry_count, next_retry, lease_until, lease_owner, last_error,
                        created_at, updated_at)
VALUES (%(command_id)s, %(operation_type)s, %(entity_id)s, %(candidate_id)s, %(payload)s, %(status)s,
        0, %(next_retry)s, %(lease_until)s, %(lease_owner)s, %(last_error)s, %(now)s, %(now)s)
ON CONFLICT (command_id) DO NOTHING
RETURNING id
"""

#: Older pending ``candidate.status`` rows of a candidate, made pointless by the newer one just
#: inserted (found by its command id, in the same transaction).
SUPERSEDE_FOR_CANDIDATE: Final = """
UPDATE sync_queue
SET status = 'completed', completed_at = %(now)s, updated_at = %(now)s, lease_until = NULL,
    superseded_by = (SELECT id FROM sync_queue WHERE command_id = %(command_id)s)
WHERE id = ANY(%(ids)s) AND status = 'pending' AND operation_type = 'candidate.status'
"""

LOCK_INTERVIEW: Final = "SELECT candidate_id, status FROM interviews WHERE id = %s FOR UPDATE"
LOCK_OFFER: Final = "SELECT candidate_id, status FROM offers WHERE id = %s FOR UPDATE"

INSERT_INTERVIEW: Final = """
INSERT INTO interviews (id, candidate_id, status, timezone, details)
VALUES (%(id)s, %(candidate_id)s, 'requested', %(timezone)s, %(details)s)
ON CONFLICT (id) DO NOTHING
"""

INSERT_OFFER: Final = """
INSERT INTO offers (id, candidate_id, status, details)
VALUES (%(id)s, %(candidate_id)s, 'sending', %(details)s)
ON CONFLICT (id) DO NOTHING
"""

# An interview or offer the portal's answer created first keeps what it holds, and gains the
# ATS's details; one whose earlier command failed is asked for again.
UPDATE_INTERVIEW_AT_INTAKE: Final = """
UPDATE interviews
SET status = CASE WHEN status = 'failed' THEN 'requested' ELSE status END,
    timezone = COALESCE(timezone, %(timezone)s),
    details = COALESCE(details, '{}'::jsonb) || %(details)s, updated_at = now()
WHERE id = %(id)s
"""
UPDATE_OFFER_AT_INTAKE: Final = """
UPDATE offers
SET status = CASE WHEN status = 'failed' THEN 'sending' ELSE status END,
    details = COALESCE(details, '{}'::jsonb) || %(details)s, updated_at = now()
WHERE id = %(id)s
"""

SET_STAGE: Final = "UPDATE candidates SET stage = %s, updated_at = now() WHERE id = %s"

INSERT_HISTORY: Final = """
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
VALUES (%s, %s, %s, %s, %s)
"""

# --- the replay -------------------------------------------------------------------------------

#: Pending ``candidate.status`` rows with a newer ``candidate.status`` row for their candidate:
#: completed as superseded (rows another worker holds are left for the next run).
SUPERSEDE_DUE: Final = """
WITH stale AS (
    SELECT s.id,
           (SELECT max(n.id) FROM sync_queue n
            WHERE n.candidate_id = s.candidate_id AND n.operation_type = 'candidate.status'
              AND n.id > s.id) AS newest
    FROM sync_queue s
    WHERE s.status = 'pending' AND s.operation_type = 'candidate.status'
      AND EXISTS (SELECT 1 FROM sync_queue n
                  WHERE n.candidate_id = s.candidate_id AND n.operation_type = 'candidate.status'
                    AND n.id > s.id)
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE sync_queue s
SET status = 'completed', superseded_by = stale.newest, completed_at = %(now)s, updated_at = %(now)s,
    lease_until = NULL, lease_owner = NULL
FROM stale
WHERE s.id = stale.id
RETURNING s.id
"""

#: Due pending rows and rows whose lease ran out, each the oldest unfinished row of its
#: candidate (so a candidate's rows go in id order), locked past other workers and leased to
#: this one in the same statement. A pending status change about to be superseded is not
#: taken. A lease that ran out counts as a failed attempt (the worker was lost mid-call).
CLAIM_DUE: Final = """
WITH due AS (
    SELECT s.id, s.status AS was
    FROM sync_queue s
    WHERE ((s.status = 'pending' AND s.next_retry <= %(now)s)
           OR (s.status = 'processing' AND s.lease_until <= %(now)s))
      AND NOT EXISTS (SELECT 1 FROM sync_queue o
                      WHERE o.candidate_id = s.candidate_id AND o.id < s.id
                        AND o.status IN ('pending', 'processing'))
      AND NOT (s.operation_type = 'candidate.status' AND s.status = 'pending'
               AND EXISTS (SELECT 1 FROM sync_queue n
                           WHERE n.candidate_id = s.candidate_id
                             AND n.operation_type = 'candidate.status' AND n.id > s.id))
    ORDER BY s.id
    LIMIT %(limit)s
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE sync_queue s
SET status = 'processing', lease_until = %(lease_until)s, lease_owner = %(owner)s, updated_at = %(now)s,
    retry_count = s.retry_count + CASE WHEN due.was = 'processing' THEN 1 ELSE 0 END,
    last_error = CASE WHEN due.was = 'processing'
                      THEN 'lease expired: the worker was lost during an attempt'
                      ELSE s.last_error END
FROM due
WHERE s.id = due.id
RETURNING s.id, s.command_id, s.operation_type, s.entity_id, s.candidate_id, s.payload, s.retry_count,
          s.first_attempt_at, due.was = 'processing' AS lease_expired
"""

# --- recording an attempt -------------------------------------------------------------------
#
# Each statement applies only while this worker still holds the row's lease: a worker whose
# lease ran out (and whose row another worker took) records nothing. ``lease_owner`` stays on
# the row afterwards (who held it last), so that the statements pipelined after it (the
# interview, the offer, the stage) can check in SQL that this worker's record applied.

COMPLETE: Final = """
UPDATE sync_queue
SET status = 'completed', completed_at = %(now)s, last_attempt = %(attempted_at)s,
    first_attempt_at = COALESCE(first_attempt_at, %(attempted_at)s), http_status = %(http_status)s,
    lease_until = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status = 'processing' AND lease_owner = %(owner)s
RETURNING id
"""

RETRY_LATER: Final = """
UPDATE sync_queue
SET status = 'pending', retry_count = %(retry_count)s, next_retry = %(next_retry)s,
    last_attempt = %(attempted_at)s, first_attempt_at = COALESCE(first_attempt_at, %(attempted_at)s),
    last_error = %(error)s, http_status = %(http_status)s, lease_until = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status = 'processing' AND lease_owner = %(owner)s
RETURNING id
"""

#: No call was made (breaker open, our key refused): back to pending, the count unchanged.
RELEASE: Final = """
UPDATE sync_queue
SET status = 'pending', next_retry = %(next_retry)s, last_error = %(error)s, lease_until = NULL,
    updated_at = %(now)s
WHERE id = %(id)s AND status = 'processing' AND lease_owner = %(owner)s
RETURNING id
"""

FAIL: Final = """
UPDATE sync_queue
SET status = 'failed', retry_count = %(retry_count)s, last_attempt = COALESCE(%(attempted_at)s, last_attempt),
    first_attempt_at = COALESCE(first_attempt_at, %(attempted_at)s), last_error = %(error)s,
    http_status = COALESCE(%(http_status)s, http_status), lease_until = NULL, updated_at = %(now)s
WHERE id = %(id)s AND status = 'processing' AND lease_owner = %(owner)s
RETURNING id
"""

# Every statement below is pipelined after the row's own and guarded by the same condition,
# written out in each: this worker's record of the row applied (it still held the lease), i.e.
#   EXISTS (SELECT 1 FROM sync_queue q WHERE q.id = row AND q.lease_owner = owner
#           AND q.status = the status the record set)

# Forward only: a 201 recorded after the portal's answer never moves scheduled, declined,
# cancelled, accepted or declined back (DESIGN.md); the portal's id is kept either way.
INTERVIEW_PENDING: Final = """
UPDATE interviews
SET portal_request_id = COALESCE(portal_request_id, %(portal_id)s),
    status = CASE WHEN status = 'requested' THEN 'pending' ELSE status END, updated_at = now()
WHERE id = %(entity_id)s
  AND EXISTS (SELECT 1 FROM sync_queue q
              WHERE q.id = %(row)s AND q.lease_owner = %(owner)s AND q.status = %(recorded)s)
"""

OFFER_SENT: Final = """
UPDATE offers
SET portal_offer_id = COALESCE(portal_offer_id, %(portal_id)s),
    status = CASE WHEN status = 'sending' THEN 'sent' ELSE status END, updated_at = now()
WHERE id = %(entity_id)s
  AND EXISTS (SELECT 1 FROM sync_queue q
              WHERE q.id = %(row)s AND q.lease_owner = %(owner)s AND q.status = %(recorded)s)
"""

#: A failed command fails its interview or offer only while nothing better is known of it.
INTERVIEW_FAILED: Final = """
UPDATE interviews SET status = 'failed', updated_at = now()
WHERE id = %(entity_id)s AND status = 'requested'
  AND EXISTS (SELECT 1 FROM sync_queue q
              WHERE q.id = %(row)s AND q.lease_owner = %(owner)s AND q.status = %(recorded)s)
"""
OFFER_FAILED: Final = """
UPDATE offers SET status = 'failed', updated_at = now()
WHERE id = %(entity_id)s AND status = 'sending'
  AND EXISTS (SELECT 1 FROM sync_queue q
              WHERE q.id = %(row)s AND q.lease_owner = %(owner)s AND q.status = %(recorded)s)
"""

#: The stage a delivered command proposes, from the stages it may move forward from (the rules'
#: table decides which), with its history row; the candidate was locked first.
STAGE_FORWARD: Final = """
WITH old AS (SELECT id, stage FROM candidates WHERE id = %(candidate_id)s),
moved AS (
    UPDATE candidates c SET stage = %(stage)s, updated_at = now()
    FROM old
    WHERE c.id = old.id AND old.stage = ANY(%(from_stages)s)
      AND EXISTS (SELECT 1 FROM sync_queue q
                  WHERE q.id = %(row)s AND q.lease_owner = %(owner)s AND q.status = %(recorded)s)
    RETURNING c.id, old.stage AS from_stage
)
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
SELECT id, from_stage, %(stage)s, %(reason)s, %(command_id)s FROM moved
"""

#: A command refused at intake still leaves its interview or offer, ``failed``, when the
#: candidate exists and the row is new (or still only requested by the ATS).
FAILED_INTERVIEW_AT_INTAKE: Final = """
INSERT INTO interviews (id, candidate_id, status) VALUES (%(entity_id)s, %(candidate_id)s, 'failed')
ON CONFLICT (id) DO UPDATE SET status = 'failed', updated_at = now()
WHERE interviews.status = 'requested' AND interviews.candidate_id = EXCLUDED.candidate_id
"""
FAILED_OFFER_AT_INTAKE: Final = """
INSERT INTO offers (id, candidate_id, status) VALUES (%(entity_id)s, %(candidate_id)s, 'failed')
ON CONFLICT (id) DO UPDATE SET status = 'failed', updated_at = now()
WHERE offers.status = 'sending' AND offers.candidate_id = EXCLUDED.candidate_id
"""
