-- Core ATS tables: candidates and what the portal tells us about them.
-- Stage, status and band values are the lower-case words of DESIGN.md; CHECKs keep them so.

CREATE TABLE candidates (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    portal_candidate_id  text NOT NULL UNIQUE CHECK (portal_candidate_id LIKE 'cand\_%'),
    first_name           text,
    last_name            text,
    email                text,
    phone                text,
    requisition_id       text,
    stage                text NOT NULL DEFAULT 'new' CHECK (stage IN
                           ('new', 'screening', 'assessment', 'interview', 'offer', 'hired',
                            'rejected', 'withdrawn')),
    needs_review         boolean NOT NULL DEFAULT false,
    profile              jsonb,
    profile_updated_at   timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidates_stage_idx ON candidates (stage);
CREATE INDEX candidates_needs_review_idx ON candidates (needs_review) WHERE needs_review;

CREATE TABLE candidate_stage_history (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    candidate_id     uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    from_stage       text,
    to_stage         text NOT NULL,
    reason           text NOT NULL,
    source_event_id  text,
    changed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidate_stage_history_candidate_idx ON candidate_stage_history (candidate_id, changed_at);

CREATE TABLE portal_assessments (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    candidate_id          uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    assessment_type       text NOT NULL,
    status                text NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    score                 numeric CHECK (score IS NULL OR score >= 0),
    max_score             numeric CHECK (max_score IS NULL OR max_score > 0),
    passed                boolean,
    portal_assessment_id  text NOT NULL UNIQUE,
    completed_at          timestamptz,
    band                  text CHECK (band IS NULL OR band IN ('weak', 'moderate', 'strong')),
    recommendation        text CHECK (recommendation IS NULL OR recommendation IN ('advance', 'review', 'reject')),
    details               jsonb,
    source_event_id       text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (assessment_type <> 'ai_screening' OR band IS NOT NULL)
);
CREATE INDEX portal_assessments_candidate_idx ON portal_assessments (candidate_id);

CREATE TABLE interviews (
    id                   uuid PRIMARY KEY,
    candidate_id         uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    portal_request_id    text UNIQUE,
    portal_interview_id  text UNIQUE,
    status               text NOT NULL CHECK (status IN
                           ('requested', 'pending', 'scheduled', 'declined', 'cancelled', 'failed')),
    scheduled_start      timestamptz,
    scheduled_end        timestamptz,
    timezone             text,
    meeting_url          text,
    status_event_at      timestamptz,
    details              jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (scheduled_end IS NULL OR scheduled_start IS NULL OR scheduled_end >= scheduled_start)
);
CREATE INDEX interviews_candidate_idx ON interviews (candidate_id);

CREATE TABLE offers (
    id               uuid PRIMARY KEY,
    candidate_id     uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    portal_offer_id  text UNIQUE,
    status           text NOT NULL CHECK (status IN ('sending', 'sent', 'accepted', 'declined', 'failed')),
    responded_at     timestamptz,
    details          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX offers_candidate_idx ON offers (candidate_id);

CREATE TABLE candidate_documents (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    candidate_id        uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    portal_document_id  text NOT NULL UNIQUE CHECK (portal_document_id LIKE 'doc\_%'),
    kind                text NOT NULL CHECK (kind IN ('resume', 'cover_letter', 'id_document', 'certificate', 'other')),
    file_name           text NOT NULL,
    content_type        text NOT NULL,
    size_bytes          bigint NOT NULL CHECK (size_bytes >= 0),
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    download_url        text,
    blob_path           text,
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN
                          ('pending', 'transferred', 'verified', 'rejected', 'failed')),
    last_error          text,
    uploaded_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX candidate_documents_candidate_idx ON candidate_documents (candidate_id);
CREATE INDEX candidate_documents_status_idx ON candidate_documents (status) WHERE status IN ('pending', 'transferred');
