"""The metrics' SQL, as named statements: each reads one table, bounded by an index.

Every windowed statement takes ``%(now)s`` (so a test pins time) and reads the three windows
(:data:`WINDOWS`) in one range scan of its table's time index: its cost grows with the rows
inside the 24-hour window, never with the table (docs/operations.md shows the plans, measured
by ``bench/metrics.py``). Percentiles are ``percentile_cont`` (linear interpolation between the two nearest
ranks), over ``double precision`` seconds or milliseconds.
"""

from __future__ import annotations

#: Window name → length in seconds; every windowed figure is given for each.
WINDOWS: dict[str, int] = {"5m": 300, "1h": 3600, "24h": 86400}

QUANTILES = (0.5, 0.95, 0.99)

# Each windowed statement reads its table once over the longest window (a range scan of the
# table's time index, bounded on both sides) and splits the rows with FILTER: the 5-minute and
# 1-hour figures are subsets of the 24-hour scan. Window columns come in WINDOWS' order.

# Outcomes, and the latency from receipt (the receiver's clock) to the recorded outcome over the
# events applied (`processed`: an ignored or failed event was not applied).
EVENT_WINDOWS = """
WITH e AS (
    SELECT status, processed_at > %(now)s - interval '5 minutes' AS in_5m,
           processed_at > %(now)s - interval '1 hour' AS in_1h,
           extract(epoch FROM processed_at - received_at)::float8 AS latency
    FROM webhook_events
    WHERE processed_at > %(now)s - interval '24 hours' AND processed_at <= %(now)s
)
SELECT count(*) FILTER (WHERE status = 'processed' AND in_5m),
       count(*) FILTER (WHERE status = 'ignored' AND in_5m),
       count(*) FILTER (WHERE status = 'failed' AND in_5m),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency)
           FILTER (WHERE status = 'processed' AND in_5m),
       count(*) FILTER (WHERE status = 'processed' AND in_1h),
       count(*) FILTER (WHERE status = 'ignored' AND in_1h),
       count(*) FILTER (WHERE status = 'failed' AND in_1h),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency)
           FILTER (WHERE status = 'processed' AND in_1h),
       count(*) FILTER (WHERE status = 'processed'),
       count(*) FILTER (WHERE status = 'ignored'),
       count(*) FILTER (WHERE status = 'failed'),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency)
           FILTER (WHERE status = 'processed')
FROM e
"""

# On the failed events' partial index.
FAILED_REASONS = """
SELECT coalesce(last_error, '-') AS reason,
       count(*) FILTER (WHERE processed_at > %(now)s - interval '5 minutes'),
       count(*) FILTER (WHERE processed_at > %(now)s - interval '1 hour'),
       count(*)
FROM webhook_events
WHERE status = 'failed' AND processed_at > %(now)s - interval '24 hours' AND processed_at <= %(now)s
GROUP BY 1
"""

# 400 and 422 answers have a row each (the webhook's and the import's invalid lines).
REJECTED_WINDOWS = """
SELECT status_code, reason,
       count(*) FILTER (WHERE received_at > %(now)s - interval '5 minutes'),
       count(*) FILTER (WHERE received_at > %(now)s - interval '1 hour'),
       count(*)
FROM rejected_deliveries
WHERE received_at > %(now)s - interval '24 hours' AND received_at <= %(now)s
GROUP BY 1, 2
"""

# On the outbound calls' partial index (inbound rows, one per event, are most of the log).
OUTBOUND_WINDOWS = """
WITH a AS (
    SELECT operation, outcome, duration_ms::float8 AS duration_ms,
           created_at > %(now)s - interval '5 minutes' AS in_5m,
           created_at > %(now)s - interval '1 hour' AS in_1h
    FROM portal_activity_log
    WHERE direction = 'outbound' AND created_at > %(now)s - interval '24 hours' AND created_at <= %(now)s
)
SELECT operation, outcome,
       count(*) FILTER (WHERE in_5m),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE in_5m),
       count(*) FILTER (WHERE in_1h),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE in_1h),
       count(*),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms)
FROM a
GROUP BY 1, 2
"""

# Each count on its own partial index; the oldest due row is how late the replay is.
SYNC_QUEUE = """
SELECT (SELECT count(*) FROM sync_queue WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM sync_queue WHERE status = 'processing') AS processing,
       (SELECT count(*) FROM sync_queue WHERE status = 'failed') AS failed,
       (SELECT extract(epoch FROM %(now)s - min(next_retry))::float8
        FROM sync_queue WHERE status = 'pending' AND next_retry <= %(now)s) AS oldest_due_age_seconds
"""

DOCUMENT_STATUSES = ("pending", "transferred", "failed", "rejected")

# Each count on a partial index (pending/transferred: 0001's; failed/rejected: the documents
# flow's), never a scan of the verified majority. Transfer throughput: documents whose bytes
# reached Blob Storage in the window (transferred, or verified since); the row's last change
# stands for the transfer until the documents flow records its own time.
DOCUMENTS = """
SELECT (SELECT count(*) FROM candidate_documents WHERE status = 'pending'),
       (SELECT count(*) FROM candidate_documents WHERE status = 'transferred'),
       (SELECT count(*) FROM candidate_documents WHERE status = 'failed'),
       (SELECT count(*) FROM candidate_documents WHERE status = 'rejected'),
       count(*) FILTER (WHERE updated_at > %(now)s - interval '5 minutes'),
       count(*) FILTER (WHERE updated_at > %(now)s - interval '1 hour'),
       count(*)
FROM candidate_documents
WHERE status IN ('transferred', 'verified')
  AND updated_at > %(now)s - interval '24 hours' AND updated_at <= %(now)s
"""

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
