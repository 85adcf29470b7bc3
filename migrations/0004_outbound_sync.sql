-- Outbound sync (ATS commands on ats-outbound -> the portal's REST API): what sync_dispatcher
-- needs beyond the sync_queue of 0002. See docs/outbound.md.

-- A command that can never be valid is kept as a failed row even when its type is not one the
-- dispatcher knows, so that an operator sees it; only rows that will be sent need a known type.
ALTER TABLE sync_queue DROP CONSTRAINT IF EXISTS sync_queue_operation_type_check;
ALTER TABLE sync_queue ADD CONSTRAINT sync_queue_operation_type_check
    CHECK (operation_type IN ('interview.request', 'offer.send', 'candidate.status') OR status = 'failed');

ALTER TABLE sync_queue
    -- the ATS candidate the command is about (NULL only for a command refused before one was
    -- known); rows of one candidate are sent in id order
    ADD COLUMN IF NOT EXISTS candidate_id      uuid REFERENCES candidates (id) ON DELETE SET NULL,
    -- who holds the lease: a worker records an attempt only while it still owns the row
    ADD COLUMN IF NOT EXISTS lease_owner       uuid,
    -- when the portal was first called for this command: it remembers a success for 24 h only
    ADD COLUMN IF NOT EXISTS first_attempt_at  timestamptz,
    -- a candidate.status row made pointless by a newer one for the same candidate
    ADD COLUMN IF NOT EXISTS superseded_by     bigint REFERENCES sync_queue (id),
    ADD COLUMN IF NOT EXISTS updated_at        timestamptz NOT NULL DEFAULT now();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'sync_queue_state_check') THEN
        ALTER TABLE sync_queue ADD CONSTRAINT sync_queue_state_check CHECK (
            (status <> 'pending' OR next_retry IS NOT NULL)
            AND (status <> 'processing' OR (lease_until IS NOT NULL AND lease_owner IS NOT NULL))
            AND (superseded_by IS NULL OR status = 'completed')
        );
    END IF;
END $$;

-- per candidate, the unfinished rows in id order (the replay's ordering rule)
CREATE INDEX IF NOT EXISTS sync_queue_candidate_open_idx
    ON sync_queue (candidate_id, id) WHERE status IN ('pending', 'processing');
-- ops sync list --status failed, ops sync retry --all-failed --since T
CREATE INDEX IF NOT EXISTS sync_queue_failed_idx ON sync_queue (created_at) WHERE status = 'failed';
CREATE INDEX IF NOT EXISTS sync_queue_created_idx ON sync_queue (created_at);

-- one portal call per row, found by entity
CREATE INDEX IF NOT EXISTS portal_activity_log_entity_idx ON portal_activity_log (entity_id, created_at);
