"""The metrics' SQL, as named statements: each reads one table, bounded by an index.

Every windowed statement takes ``%(now)s`` (so a test pins time) and reads the three windows
(:data:`WINDOWS`) through one ``LATERAL`` range scan each over its table's time index: its cost
grows with the rows inside the 24-hour window, never with the table (docs/operations.md shows
the plans). Percentiles are ``percentile_cont`` (linear interpolation between the two nearest
ranks), over ``double precision`` seconds or milliseconds.
"""

from __future__ import annotations

#: Window name → length in seconds; every windowed figure is given for each.
WINDOWS: dict[str, int] = {"5m": 300, "1h": 3600, "24h": 86400}

_WINDOW_ROWS = (
    "(VALUES ('5m', interval '5 minutes'), ('1h', interval '1 hour'), ('24h', interval '24 hours'))"
)

QUANTILES = (0.5, 0.95, 0.99)

# Success rate and latency from receipt (the receiver's clock) to the recorded outcome. Latency is
# over events applied (`processed`): an ignored or failed event was not applied.
EVENT_WINDOWS = f"""
SELECT w.name,
       count(e.status) FILTER (WHERE e.status = 'processed') AS processed,
       count(e.status) FILTER (WHERE e.status = 'ignored') AS ignored,
       count(e.status) FILTER (WHERE e.status = 'failed') AS failed,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY e.latency)
           FILTER (WHERE e.status = 'processed') AS latency
FROM {_WINDOW_ROWS} AS w(name, span)
LEFT JOIN LATERAL (
    SELECT status, extract(epoch FROM processed_at - received_at)::float8 AS latency
    FROM webhook_events
    WHERE processed_at > %(now)s - w.span AND processed_at <= %(now)s
) AS e ON true
GROUP BY w.name
"""  # noqa: S608 (module constants only)

FAILED_REASONS = f"""
SELECT w.name, e.last_error AS reason, count(*) AS events
FROM {_WINDOW_ROWS} AS w(name, span)
JOIN LATERAL (
    SELECT coalesce(last_error, '-') AS last_error
    FROM webhook_events
    WHERE status = 'failed' AND processed_at > %(now)s - w.span AND processed_at <= %(now)s
) AS e ON true
GROUP BY w.name, e.last_error
"""  # noqa: S608

# 400 and 422 answers have a row each (the webhook's and the import's invalid lines).
REJECTED_WINDOWS = f"""
SELECT w.name, r.status_code, r.reason, count(*) AS deliveries
FROM {_WINDOW_ROWS} AS w(name, span)
JOIN LATERAL (
    SELECT status_code, reason
    FROM rejected_deliveries
    WHERE received_at > %(now)s - w.span AND received_at <= %(now)s
) AS r ON true
GROUP BY w.name, r.status_code, r.reason
"""  # noqa: S608

OUTBOUND_WINDOWS = f"""
SELECT w.name, a.operation, a.outcome, count(*) AS calls,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY a.duration_ms) AS latency
FROM {_WINDOW_ROWS} AS w(name, span)
JOIN LATERAL (
    SELECT operation, outcome, duration_ms::float8 AS duration_ms
    FROM portal_activity_log
    WHERE direction = 'outbound' AND created_at > %(now)s - w.span AND created_at <= %(now)s
) AS a ON true
GROUP BY w.name, a.operation, a.outcome
"""  # noqa: S608

# Each count on its own partial index; the oldest due row is how late the replay is.
SYNC_QUEUE = """
SELECT (SELECT count(*) FROM sync_queue WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM sync_queue WHERE status = 'processing') AS processing,
       (SELECT count(*) FROM sync_queue WHERE status = 'failed') AS failed,
       (SELECT extract(epoch FROM %(now)s - min(next_retry))::float8
        FROM sync_queue WHERE status = 'pending' AND next_retry <= %(now)s) AS oldest_due_age_seconds
"""

DOCUMENT_STATUSES = ("pending", "transferred", "failed", "rejected")

DOCUMENTS = """
SELECT status, count(*) FROM candidate_documents
WHERE status IN ('pending', 'transferred', 'failed', 'rejected')
GROUP BY status
"""

# Transfer throughput: documents whose bytes reached Blob Storage in the window (transferred, or
# verified since). The row's last change stands for the transfer until the documents flow
# records its own time.
DOCUMENTS_TRANSFERRED = f"""
SELECT w.name, count(d.status) AS documents
FROM {_WINDOW_ROWS} AS w(name, span)
LEFT JOIN LATERAL (
    SELECT status FROM candidate_documents
    WHERE updated_at > %(now)s - w.span AND updated_at <= %(now)s
      AND status IN ('transferred', 'verified')
) AS d ON true
GROUP BY w.name
"""  # noqa: S608

PARKED = "SELECT queue, count(*), min(parked_at) FROM parked_messages GROUP BY queue"

OPEN_ALERTS_BY_KIND = "SELECT kind, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind"

# --- the dashboard's time series: the last hour, minute by minute ----------------------------

EVENT_SERIES = """
SELECT date_bin('1 minute', processed_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute,
       count(*) FILTER (WHERE status = 'processed') AS processed,
       count(*) FILTER (WHERE status = 'ignored') AS ignored,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       percentile_cont(ARRAY[0.5, 0.95, 0.99])
           WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)::float8)
           FILTER (WHERE status = 'processed') AS latency
FROM webhook_events
WHERE processed_at > %(since)s AND processed_at <= %(now)s
GROUP BY 1
ORDER BY 1
"""

REJECTED_SERIES = """
SELECT date_bin('1 minute', received_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS minute, count(*)
FROM rejected_deliveries
WHERE received_at > %(since)s AND received_at <= %(now)s
GROUP BY 1
"""

# --- the dashboard's open problems -------------------------------------------------------------

FAILED_EVENTS = """
SELECT event_id, event_type, last_error, processed_at FROM webhook_events
WHERE status = 'failed'
ORDER BY processed_at DESC NULLS LAST
LIMIT %(limit)s
"""

FAILED_SYNC_ROWS = """
SELECT command_id, operation_type, entity_id, retry_count, last_error, last_attempt FROM sync_queue
WHERE status = 'failed'
ORDER BY id DESC
LIMIT %(limit)s
"""

PROBLEM_DOCUMENTS = """
SELECT id, portal_document_id, status, last_error, updated_at FROM candidate_documents
WHERE status IN ('failed', 'rejected')
ORDER BY updated_at DESC
LIMIT %(limit)s
"""

OPEN_ALERTS = """
SELECT kind, key, first_seen, last_seen, count, last_text FROM alerts
WHERE resolved_at IS NULL
ORDER BY last_seen DESC
LIMIT %(limit)s
"""
