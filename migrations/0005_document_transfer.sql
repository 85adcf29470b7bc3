-- Document transfer and verification (shared/documents): what a transfer and its verification
-- record on the document's row.

ALTER TABLE candidate_documents
    ADD COLUMN content_md5      text,         -- base64 MD5 of the bytes, as set on the blob
    ADD COLUMN transferred_at   timestamptz,
    ADD COLUMN verified_at      timestamptz,  -- when verification decided (verified or rejected)
    ADD COLUMN detected_type    text,         -- what the content sniffer found
    ADD COLUMN rejection_reason text,
    -- transfer attempts of this row, every version included; never reset, so that a message id
    -- built from it is never reused
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0);

-- A new version (another sha256) of a document starts over: what was recorded about the old
-- bytes no longer describes the row. The processor's upsert resets status, blob_path and
-- last_error itself; this resets the columns above, whoever changes the sha256.
CREATE FUNCTION candidate_documents_new_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.content_md5 := NULL;
    NEW.transferred_at := NULL;
    NEW.verified_at := NULL;
    NEW.detected_type := NULL;
    NEW.rejection_reason := NULL;
    RETURN NEW;
END;
$$;

CREATE TRIGGER candidate_documents_new_version
    BEFORE UPDATE OF sha256 ON candidate_documents
    FOR EACH ROW WHEN (OLD.sha256 IS DISTINCT FROM NEW.sha256)
    EXECUTE FUNCTION candidate_documents_new_version();

-- `ops documents list --status failed|rejected`
CREATE INDEX candidate_documents_problem_idx ON candidate_documents (updated_at)
    WHERE status IN ('failed', 'rejected');
