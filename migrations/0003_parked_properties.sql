-- A parked message keeps its application properties (the receive time, the attempt counters),
-- so that a resubmission carries the original received_at rather than the resubmission's time.
ALTER TABLE parked_messages
    ADD COLUMN application_properties jsonb NOT NULL DEFAULT '{}'::jsonb;
