"""Metrics benchmark: ``GET /api/health/metrics``'s work over a large history, beside an indexed
single-row lookup.

    python bench/metrics.py                 # 1 M events over 30 days (a few minutes)
    python bench/metrics.py --large         # 10 M events (about half an hour here)
    python bench/metrics.py --events 200000 --days 1 --plans

Seeds a fresh migrated database server-side (``generate_series``): N events in
``webhook_events`` spread evenly over ``--days`` (97 % processed, 2 % ignored, 1 % failed, receipt
to applied from 50 ms to a few seconds, one in a thousand slow), one inbound activity row per
event and an outbound call per ten, refusals (1 %), sync_queue rows and candidates' documents
(5 %), and a day of per-minute delivery counts in Redis; then ``VACUUM ANALYZE``, as autovacuum
would have done by then.

Measures, on the same pool and in the same run: the metrics' work (``shared.health.collect``,
what the endpoint does before serialising) and ``SELECT * FROM webhook_events WHERE event_id =
%s`` (the baseline: the cheapest query a request can make), each repeated, median and p95, and
the ratio. ``--plans`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of each metrics statement (the plans
in docs/operations.md). Everything it creates is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.ingest import Environment  # noqa: E402

CHUNK = 250_000

SEED_EVENTS = """
INSERT INTO webhook_events (event_type, event_id, payload, processed, status, last_error, received_at,
                            processed_at, portal_candidate_id)
SELECT (ARRAY['candidate.created', 'screening.completed', 'assessment.completed', 'document.uploaded',
              'interview.scheduled', 'offer.accepted'])[1 + g %% 6],
       'evt_bench_' || g,
       jsonb_build_object('id', 'evt_bench_' || g, 'type', 'candidate.updated',
                          'data', jsonb_build_object('candidate', jsonb_build_object(
                              'id', 'cand_bench_' || (g %% %(candidates)s), 'headline', repeat('x', 200)))),
       g %% 100 <> 0,
       CASE WHEN g %% 100 = 0 THEN 'failed' WHEN g %% 50 = 1 THEN 'ignored' ELSE 'processed' END,
       CASE WHEN g %% 100 = 0 THEN (ARRAY['event data failed validation: data.candidate.email',
            'candidate unknown to the portal (GET /v1/candidates answered 404)'])[1 + g %% 2] END,
       t.received,
       t.received + make_interval(secs => CASE WHEN g %% 1000 = 7 THEN 30 + g %% 300
                                              ELSE 0.05 + (g %% 997) / 400.0 END),
       'cand_bench_' || (g %% %(candidates)s)
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g,
     LATERAL (SELECT %(now)s - make_interval(secs => g * %(spacing)s) AS received) AS t
"""

SEED_ACTIVITY = """
INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, http_status, duration_ms,
                                 created_at)
SELECT 'inbound', event_type, portal_candidate_id, status, NULL, NULL, processed_at
FROM webhook_events WHERE id BETWEEN %(first)s::bigint AND %(last)s::bigint
UNION ALL
SELECT 'outbound',
       (ARRAY['interview.request', 'offer.send', 'candidate.status', 'candidate.get'])[1 + id %% 4],
       portal_candidate_id, CASE WHEN id %% 50 = 0 THEN 'unavailable' ELSE 'succeeded' END, 201,
       40 + (id %% 500), processed_at
FROM webhook_events WHERE id BETWEEN %(first)s::bigint AND %(last)s::bigint AND id %% 10 = 0
"""

SEED_REST = [
    """
INSERT INTO rejected_deliveries (event_id, event_type, status_code, reason, errors, received_at)
SELECT 'evt_refused_' || g, 'candidate.created', CASE WHEN g %% 3 = 0 THEN 400 ELSE 422 END,
       CASE WHEN g %% 3 = 0 THEN 'malformed:not_json' ELSE 'invalid_data' END, '[]',
       %(now)s - make_interval(secs => g * %(spacing)s * 100)
FROM generate_series(1, %(events)s::bigint / 100) AS g
""",
    """
INSERT INTO candidates (portal_candidate_id, first_name, stage)
SELECT 'cand_bench_' || g, 'Ada', 'screening' FROM generate_series(0, %(candidates)s::bigint - 1) AS g
""",
    """
INSERT INTO sync_queue (command_id, operation_type, entity_id, payload, status, retry_count, next_retry,
                        lease_until, created_at, completed_at)
SELECT gen_random_uuid(), 'offer.send', 'x', '{}',
       CASE WHEN g %% 500 = 0 THEN 'failed' WHEN g %% 997 = 0 THEN 'pending' ELSE 'completed' END, 0,
       CASE WHEN g %% 997 = 0 AND g %% 500 <> 0 THEN %(now)s - interval '3 seconds' END, NULL,
       %(now)s - make_interval(secs => g * %(spacing)s * 20), %(now)s
FROM generate_series(1, %(events)s::bigint / 20) AS g
""",
    """
INSERT INTO candidate_documents (candidate_id, portal_document_id, kind, file_name, content_type, size_bytes,
                                 sha256, status, updated_at)
SELECT c.id, 'doc_bench_' || c.portal_candidate_id, 'resume', 'cv.pdf', 'application/pdf', 1000,
       md5(c.portal_candidate_id) || md5(c.portal_candidate_id),
       CASE abs(hashtext(c.portal_candidate_id)) %% 100 WHEN 0 THEN 'rejected' WHEN 1 THEN 'failed'
            WHEN 2 THEN 'pending' WHEN 3 THEN 'transferred' ELSE 'verified' END,
       %(now)s - make_interval(secs => abs(hashtext(c.portal_candidate_id)) %% 2592000)
FROM candidates c WHERE c.portal_candidate_id LIKE 'cand_bench_%%'
""",
]


def seed(url: str, events: int, days: float) -> None:
    now = datetime.now(UTC)
    spacing = days * 86400 / events
    candidates = max(events // 10, 1)
    params = {"now": now, "spacing": spacing, "candidates": candidates, "events": events}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for first in range(1, events + 1, CHUNK):
            last = min(first + CHUNK - 1, events)
            started = time.monotonic()
            conn.execute(SEED_EVENTS, {**params, "first": first, "last": last})
            conn.execute(SEED_ACTIVITY, {"first": first, "last": last})
            print(f"  seeded events {first:,}–{last:,} ({time.monotonic() - started:.1f} s)", flush=True)
        for statement in SEED_REST:
            conn.execute(statement, params)
        print("  VACUUM ANALYZE ...", flush=True)
        for table in (
            "webhook_events",
            "portal_activity_log",
            "rejected_deliveries",
            "sync_queue",
            "candidate_documents",
            "candidates",
        ):
            conn.execute(f"VACUUM ANALYZE {table}")


def minute_clock(moment: float) -> Callable[[], float]:
    return lambda: moment


async def seed_redis(environ: dict[str, str]) -> None:
    """A day of per-minute delivery counts, as the receivers write them."""
    from shared.health.counts import MinuteCounts
    from shared.redis_store import create_redis

    client = create_redis(environ["REDIS_URL"])
    now = time.time()
    try:
        for back in range(1440):
            counts = MinuteCounts(client, environ["REDIS_KEY_PREFIX"], clock=minute_clock(now - back * 60))
            counts.record("deliveries_accepted", 30 + back % 17, {"type": "candidate.created"})
            counts.record("deliveries_already_processed", back % 3, {})
            counts.record(
                "deliveries_rejected",
                back % 2,
                {"endpoint": "webhooks", "status": "401", "reason": "no_matching_signature"},
            )
            counts.record(
                "deliveries_rejected",
                back % 5,
                {"endpoint": "webhooks", "status": "422", "reason": "invalid_data"},
            )
            await counts.flush()
    finally:
        await client.aclose()


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    for _ in range(3):  # warm the pool and the caches
        await call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def describe(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{name:<44} median {statistics.median(times):9.2f} ms   p95 {p95:9.2f} ms   (n={len(times)})"


async def measure(environ: dict[str, str], events: int, repeat: int, plans: bool) -> None:
    from shared.health import queries
    from shared.health.collect import _database as collect_database
    from shared.health.collect import _redis_windows as redis_windows_of
    from shared.health.collect import collect
    from shared.runtime import Runtime

    runtime = await Runtime.from_environ(environ)
    try:
        sources = runtime.health_sources
        await runtime.queue_depths.depths()  # devhost's queue tables exist

        async def metrics() -> object:
            return await collect(sources, now=datetime.now(UTC))

        async def lookup() -> object:
            async with runtime.db.connection() as conn:
                event_id = f"evt_bench_{1 + int(time.perf_counter_ns()) % events}"
                return await (
                    await conn.execute("SELECT * FROM webhook_events WHERE event_id = %s", (event_id,))
                ).fetchone()

        async def redis_windows() -> object:
            return await redis_windows_of(sources.counts, datetime.now(UTC))

        async def database() -> object:
            return await collect_database(sources.db, datetime.now(UTC))

        async def depths() -> object:
            return await sources.depths.depths()

        metric_times = await timed(metrics, repeat)
        lookup_times = await timed(lookup, repeat * 10)
        redis_times = await timed(redis_windows, repeat)
        database_times = await timed(database, repeat)
        depth_times = await timed(depths, repeat)
        sample = await metrics()
        assert isinstance(sample, dict)
        print()
        print(describe("metrics (every source, 3 windows)", metric_times))
        print(describe("baseline: one event by event_id", lookup_times))
        print(describe("  of which PostgreSQL: every windowed figure", database_times))
        print(describe("  of which Redis: a day of buckets", redis_times))
        print(describe("  of which the queues' depths", depth_times))
        ratio = statistics.median(metric_times) / statistics.median(lookup_times)
        print(f"ratio metrics / baseline (medians): {ratio:,.0f}x")
        print(
            "events in the windows: "
            + ", ".join(f"{w} {sample['events'][w]['recorded']:,}" for w in queries.WINDOWS)
        )
        if plans:
            now = datetime.now(UTC)
            statements = {
                name: getattr(queries, name)
                for name in (
                    "EVENT_WINDOWS",
                    "FAILED_REASONS",
                    "REJECTED_WINDOWS",
                    "OUTBOUND_WINDOWS",
                    "SYNC_QUEUE",
                    "DOCUMENTS",
                    "PARKED",
                    "EVENT_SERIES",
                )
            }
            async with runtime.db.connection() as conn:
                for name, sql in statements.items():
                    cursor = await conn.execute(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql,
                        {"now": now, "since": now - timedelta(hours=1)},
                    )
                    print(f"\n--- {name}")
                    for (line,) in await cursor.fetchall():
                        print(line)
    finally:
        await runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to seed (default 1 M)")
    parser.add_argument("--large", action="store_true", help="10 M events")
    parser.add_argument(
        "--days", type=float, default=30, help="spread the events over this many days (default 30)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed calls of the metrics (default 20)")
    parser.add_argument(
        "--plans", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of each statement"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and Redis keys")
    args = parser.parse_args()
    events = 10_000_000 if args.large else args.events
    admin = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    env = Environment(admin, os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        url = env.database("metrics")
        environ = env.app_environ(url)
        print(f"seeding {events:,} events over {args.days:g} days into {url.rsplit('/', 1)[1]}", flush=True)
        started = time.monotonic()
        seed(url, events, args.days)
        asyncio.run(seed_redis(environ))
        print(f"seeded in {time.monotonic() - started:.0f} s")
        asyncio.run(measure(environ, events, args.repeat, args.plans))
    finally:
        env.cleanup(args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
