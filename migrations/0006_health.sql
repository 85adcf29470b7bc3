-- Integration health (docs/operations.md): the candidate each event is about, the metrics'
-- time windows, alert state, erasure tombstones and their audit, the retention watermark.
-- An expand migration: it only adds.

-- The portal candidate an event is about (NULL when the processor could not read it), so that
-- `ops candidates rebuild|erase` find a candidate's events without reading every payload.
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS portal_candidate_id text;
CREATE INDEX IF NOT EXISTS webhook_events_candidate_idx
    ON webhook_events (portal_candidate_id) WHERE portal_candidate_id IS NOT NULL;

-- Events recorded before this column existed: the candidate named by the payload (data.candidate.id,
-- or data.<object>.candidate_id), as the processor reads it.
UPDATE webhook_events
SET portal_candidate_id = COALESCE(
        payload -> 'data' -> 'candidate' ->> 'id',
        (SELECT value ->> 'candidate_id' FROM jsonb_each(payload -> 'data')
         WHERE jsonb_typeof(value) = 'object' AND value ? 'candidate_id' LIMIT 1))
WHERE portal_candidate_id IS NULL AND jsonb_typeof(payload -> 'data') = 'object';

-- The metrics' windows ("processed in the last 5 min / 1 h / 24 h"): a range scan that reads
-- the latency and the outcome from the index alone once the pages are all-visible.
CREATE INDEX IF NOT EXISTS webhook_events_processed_idx
    ON webhook_events (processed_at) INCLUDE (received_at, status);
-- failed events listed newest first (the dashboard's open problems, `ops events replay --failed`)
CREATE INDEX IF NOT EXISTS webhook_events_failed_idx
    ON webhook_events (processed_at) WHERE status = 'failed';
-- failed sync_queue rows counted without a scan (the same index as the outbound flow's 0004)
CREATE INDEX IF NOT EXISTS sync_queue_failed_idx ON sync_queue (created_at) WHERE status = 'failed';
-- documents transferred in a window (the metrics' transfer throughput)
CREATE INDEX IF NOT EXISTS candidate_documents_moved_idx
    ON candidate_documents (updated_at) WHERE status IN ('transferred', 'verified');
-- outbound calls in a window (the log's inbound rows, one per event, outnumber them)
CREATE INDEX IF NOT EXISTS portal_activity_log_outbound_idx
    ON portal_activity_log (created_at) INCLUDE (operation, outcome, duration_ms) WHERE direction = 'outbound';

-- One row per incident: (kind, key) is open until resolved; a later occurrence opens a new row.
CREATE TABLE IF NOT EXISTS alerts (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                    text NOT NULL,
    key                     text NOT NULL,
    first_seen              timestamptz NOT NULL DEFAULT now(),
    last_seen               timestamptz NOT NULL DEFAULT now(),
    count                   integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    last_text               text NOT NULL,
    resolved_at             timestamptz,
    resolved_by             text,          -- 'condition cleared: ...' or 'operator'
    notified_at             timestamptz,   -- the opening post was confirmed
    resolution_notified_at  timestamptz,   -- the resolution post was confirmed
    post_attempts           integer NOT NULL DEFAULT 0,
    next_post_at            timestamptz,   -- a post failed: the timer tries again from then
    last_post_error         text,
    CHECK (resolved_at IS NULL OR resolved_at >= first_seen)
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open_idx ON alerts (kind, key) WHERE resolved_at IS NULL;
CREATE INDEX IF NOT EXISTS alerts_post_due_idx ON alerts (next_post_at) WHERE next_post_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS alerts_recent_idx ON alerts (last_seen);

-- Candidates erased at their request (GDPR): later events about them are ignored ('erased'),
-- their payloads never stored.
CREATE TABLE IF NOT EXISTS erased_candidates (
    portal_candidate_id  text PRIMARY KEY,
    candidate_id         uuid,             -- the ATS id the candidate had (the row is gone)
    erased_at            timestamptz NOT NULL DEFAULT now()
);

-- What operators did to data, without personal data: who, what, which ids, how many rows.
CREATE TABLE IF NOT EXISTS audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    subject   text,
    details   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);

-- How far the retention timer has purged each table: every run starts where the last stopped.
CREATE TABLE IF NOT EXISTS retention_watermarks (
    table_name     text PRIMARY KEY,
    purged_before  timestamptz NOT NULL
);
