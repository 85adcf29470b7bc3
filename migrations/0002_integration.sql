-- The integration's own bookkeeping: inbound events, rejections, outbound calls, outbox, parking.

CREATE TABLE webhook_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type    text NOT NULL,
    event_id      text NOT NULL UNIQUE,
    payload       jsonb NOT NULL,
    processed     boolean NOT NULL DEFAULT false,
    status        text NOT NULL CHECK (status IN ('processed', 'failed', 'ignored')),
    attempts      integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    last_error    text,
    received_at   timestamptz NOT NULL,
    processed_at  timestamptz,
    -- processed is true exactly for processed and ignored events (DESIGN.md)
    CHECK (processed = (status IN ('processed', 'ignored')))
);
CREATE INDEX webhook_events_status_idx ON webhook_events (status) WHERE status = 'failed';
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at);

CREATE TABLE rejected_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text,
    event_type   text,
    status_code  integer NOT NULL CHECK (status_code BETWEEN 400 AND 499),
    reason       text NOT NULL,
    errors       jsonb NOT NULL DEFAULT '[]'::jsonb,
    payload      jsonb,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_deliveries_received_idx ON rejected_deliveries (received_at);

CREATE TABLE sync_queue (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command_id      uuid NOT NULL UNIQUE,
    operation_type  text NOT NULL CHECK (operation_type IN ('interview.request', 'offer.send', 'candidate.status')),
    entity_id       text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    retry_count     integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    last_attempt    timestamptz,
    next_retry      timestamptz,
    lease_until     timestamptz,
    last_error      text,
    http_status     integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
-- the replay timer's query: due pending rows, and processing rows whose lease ran out
CREATE INDEX sync_queue_due_idx ON sync_queue (next_retry) WHERE status = 'pending';
CREATE INDEX sync_queue_lease_idx ON sync_queue (lease_until) WHERE status = 'processing';

CREATE TABLE portal_activity_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    direction    text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    operation    text NOT NULL,
    entity_id    text,
    outcome      text NOT NULL,
    http_status  integer,
    duration_ms  integer,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_activity_log_created_idx ON portal_activity_log (created_at);

CREATE TABLE outbox (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue                   text NOT NULL,
    message_id              text NOT NULL UNIQUE,
    body                    jsonb NOT NULL,
    application_properties  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at              timestamptz NOT NULL DEFAULT now(),
    sent_at                 timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (created_at) WHERE sent_at IS NULL;

CREATE TABLE parked_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue       text NOT NULL,
    message_id  text NOT NULL,
    body        jsonb NOT NULL,
    reason      text NOT NULL,
    attempts    integer NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (queue, message_id)
);
