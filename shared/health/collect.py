"""The integration's metrics, gathered from where each figure lives (``GET /api/health/metrics``).

* from PostgreSQL, where a row exists: events (``webhook_events``: outcome, receipt to outcome),
  400/422 answers (``rejected_deliveries``), outbound calls (``portal_activity_log``),
  ``sync_queue``, ``candidate_documents``, ``parked_messages``, open ``alerts``;
* from Redis, what has no row: deliveries accepted, duplicates (200), every other refusal (401,
  413) and 503s, in per-minute buckets shared by every instance (:mod:`shared.health.counts`);
  the circuit breaker (:mod:`shared.health.breaker`);
* from the queue transport: each queue's depth and dead letters (:mod:`shared.health.queues`).

Each source is read concurrently and on its own: one that is down leaves its figures ``null``
and names itself under ``unavailable`` (the type of the error, never its message), so the
endpoint still answers during the outage it is meant to show.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from shared.health import queries
from shared.health.breaker import BreakerReader
from shared.health.counts import BUCKET_SECONDS, Count, MinuteCounts, minute_of, total
from shared.health.queries import QUANTILES, WINDOWS
from shared.health.queues import QueueDepths
from shared.messaging.port import QUEUES

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Refusals with a row in rejected_deliveries come from there; the others from Redis.
STORED_STATUSES = frozenset({400, 422})
#: Reasons listed per window (the rest are summed as "other").
TOP_REASONS = 10
SERIES_MINUTES = 60


@dataclass(frozen=True, slots=True)
class HealthSources:
    db: AsyncConnectionPool
    counts: MinuteCounts
    depths: QueueDepths
    breaker: BreakerReader


def _quantiles(values: Sequence[float | None] | None, *, digits: int = 3) -> dict[str, float | None]:
    names = [f"p{round(q * 100)}" for q in QUANTILES]
    if not values:
        return dict.fromkeys(names)
    return {
        name: (round(v, digits) if v is not None else None) for name, v in zip(names, values, strict=True)
    }


def _top(counts: Mapping[str, int]) -> dict[str, int]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = dict(ordered[:TOP_REASONS])
    rest = sum(v for _, v in ordered[TOP_REASONS:])
    if rest:
        top["other"] = rest
    return top


# --- PostgreSQL --------------------------------------------------------------------------------


async def _database(db: AsyncConnectionPool, now: datetime) -> dict[str, Any]:
    """Every figure with a row, in one read-only snapshot."""
    params = {"now": now}
    async with db.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        events = await (await conn.execute(queries.EVENT_WINDOWS, params)).fetchone()
        failed = await (await conn.execute(queries.FAILED_REASONS, params)).fetchall()
        rejected = await (await conn.execute(queries.REJECTED_WINDOWS, params)).fetchall()
        outbound = await (await conn.execute(queries.OUTBOUND_WINDOWS, params)).fetchall()
        sync = await (await conn.execute(queries.SYNC_QUEUE, params)).fetchone()
        documents = await (await conn.execute(queries.DOCUMENTS, params)).fetchone()
        parked = await (await conn.execute(queries.PARKED)).fetchall()
        alerts = await (await conn.execute(queries.OPEN_ALERTS_BY_KIND)).fetchall()
    assert events is not None
    assert sync is not None
    assert documents is not None
    windows = list(WINDOWS)
    event_figures: dict[str, Any] = {}
    for n, window in enumerate(windows):
        processed, ignored, failed_n, latency = events[4 * n : 4 * n + 4]
        recorded = processed + ignored + failed_n
        event_figures[window] = {
            "recorded": recorded,
            "processed": processed,
            "ignored": ignored,
            "failed": failed_n,
            "success_rate": round((processed + ignored) / recorded, 4) if recorded else None,
            "latency_seconds": _quantiles(latency),
            "failed_by_reason": _top({reason: int(counts[n]) for reason, *counts in failed if counts[n]}),
        }
    stored_rejections = {
        window: [
            (int(status), reason, int(counts[n]))
            for status, reason, *counts in rejected
            if status in STORED_STATUSES and counts[n]
        ]
        for n, window in enumerate(windows)
    }
    calls: dict[str, list[dict[str, Any]]] = {
        window: sorted(
            (
                {
                    "operation": operation,
                    "outcome": outcome,
                    "calls": figures[2 * n],
                    "latency_ms": _quantiles(figures[2 * n + 1], digits=1),
                }
                for operation, outcome, *figures in outbound
                if figures[2 * n]
            ),
            key=lambda c: (c["operation"], c["outcome"]),
        )
        for n, window in enumerate(windows)
    }
    return {
        "events": event_figures,
        "stored_rejections": stored_rejections,
        "outbound": calls,
        "sync_queue": {
            "pending": sync[0],
            "processing": sync[1],
            "failed": sync[2],
            "oldest_due_age_seconds": round(sync[3], 1) if sync[3] is not None else None,
        },
        "documents": {
            **dict(zip(queries.DOCUMENT_STATUSES, (int(n) for n in documents[:4]), strict=True)),
            "transferred_in_window": dict(zip(windows, (int(n) for n in documents[4:]), strict=True)),
        },
        "parked": {queue: {"messages": int(n), "oldest": oldest.isoformat()} for queue, n, oldest in parked},
        "alerts": {"open": sum(int(n) for _, n in alerts), "by_kind": {kind: int(n) for kind, n in alerts}},
    }


# --- Redis ---------------------------------------------------------------------------------------


def _sum(counts: Counter[Count], name: str, **labels: str) -> int:
    return sum(
        v for c, v in counts.items() if c.name == name and all(c.label(k) == x for k, x in labels.items())
    )


def deliveries(counts: Counter[Count], stored: Sequence[tuple[int, str, int]] | None) -> dict[str, Any]:
    """One window's deliveries: Redis for what has no row, ``stored`` (400/422 rows) for the rest.

    ``received`` is every answer given: accepted + duplicates + rejected + unqueued (503).
    """
    rejected: Counter[tuple[int, str]] = Counter()
    for count, n in counts.items():
        if count.name == "deliveries_rejected":
            status = int(count.label("status") or 0)
            if status not in STORED_STATUSES or stored is None:
                rejected[(status, count.label("reason") or "-")] += n
    for status, reason, n in stored or ():
        rejected[(status, reason)] += n
    accepted = _sum(counts, "deliveries_accepted") + _sum(counts, "import_lines", status="accepted")
    duplicates = _sum(counts, "deliveries_already_processed") + _sum(
        counts, "import_lines", status="duplicate"
    )
    unqueued = _sum(counts, "deliveries_unqueued") + _sum(counts, "imports_unqueued")
    refused = sum(rejected.values())
    return {
        "received": accepted + duplicates + refused + unqueued,
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": refused,
        "unqueued": unqueued,
        "rejected_by_reason": [
            {"status": status, "reason": reason, "deliveries": n}
            for (status, reason), n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


async def _redis_windows(counts: MinuteCounts, now: datetime) -> dict[str, Counter[Count]]:
    """Each window's totals: the last hour minute by minute, the rest of the day from hours."""
    await counts.flush()  # this instance's own latest counts first
    last = minute_of(now.timestamp())
    hour = await counts.minutes(last - 59, last)
    earlier = await counts.span(last - WINDOWS["24h"] // BUCKET_SECONDS + 1, last - 60)
    windows = {
        window: total(c for m, c in hour.items() if m > last - seconds // BUCKET_SECONDS)
        for window, seconds in WINDOWS.items()
        if seconds <= 3600
    }
    windows["24h"] = total([earlier, *hour.values()])
    return windows


# --- together ------------------------------------------------------------------------------------


async def _guard(name: str, unavailable: dict[str, str], read: Awaitable[T]) -> T | None:
    try:
        return await read
    except Exception as exc:  # a source that is down leaves its figures null, never fails the answer
        unavailable[name] = type(exc).__name__
        log.warning("metrics: %s unavailable (%s)", name, type(exc).__name__)
        return None


async def collect(sources: HealthSources, *, now: datetime) -> dict[str, Any]:
    """Every metric of docs/operations.md, as one JSON-ready document."""
    unavailable: dict[str, str] = {}
    db, windows, depths, breaker = await asyncio.gather(
        _guard("postgres", unavailable, _database(sources.db, now)),
        _guard("redis", unavailable, _redis_windows(sources.counts, now)),
        _guard("queues", unavailable, sources.depths.depths(QUEUES)),
        _guard("breaker", unavailable, sources.breaker.read(now)),
    )
    parked = db["parked"] if db else {}
    queue_figures = {
        queue: {
            **(depths[queue].as_dict() if depths else dict.fromkeys(("active", "scheduled", "dead_letters"))),
            "parked": parked.get(queue, {}).get("messages", 0) if db else None,
        }
        for queue in QUEUES
    }
    return {
        "generated_at": now.isoformat(),
        "windows": list(WINDOWS),
        "deliveries": {
            w: deliveries(windows[w], db["stored_rejections"][w] if db else None) if windows else None
            for w in WINDOWS
        },
        "events": db["events"] if db else None,
        "outbound": db["outbound"] if db else None,
        "sync_queue": db["sync_queue"] if db else None,
        "documents": db["documents"] if db else None,
        "queues": queue_figures,
        "breaker": breaker.as_dict() if breaker else None,
        "alerts": db["alerts"] if db else None,
        "unavailable": unavailable,
    }


# --- the dashboard's series ------------------------------------------------------------------------


async def _event_series(
    db: AsyncConnectionPool, now: datetime, since: datetime
) -> tuple[dict[int, tuple[Any, ...]], dict[int, int]]:
    """Outcomes and latency per minute, and the stored refusals (400/422) per minute."""
    async with db.connection() as conn:
        params = {"now": now, "since": since}
        rows = await (await conn.execute(queries.EVENT_SERIES, params)).fetchall()
        rejected = await (await conn.execute(queries.REJECTED_SERIES, params)).fetchall()
    return (
        {minute_of(row[0].timestamp()): tuple(row[1:]) for row in rows},
        {minute_of(minute.timestamp()): int(n) for minute, n in rejected},
    )


async def series(sources: HealthSources, *, now: datetime, minutes: int = SERIES_MINUTES) -> dict[str, Any]:
    """Minute by minute over the last ``minutes``: deliveries, outcomes, success rate, latency."""
    unavailable: dict[str, str] = {}
    last = minute_of(now.timestamp())
    first = last - minutes + 1
    since = datetime.fromtimestamp(first * BUCKET_SECONDS, now.tzinfo) - timedelta(microseconds=1)
    counted, recorded_rows = await asyncio.gather(
        _guard("redis", unavailable, sources.counts.minutes(first, last)),
        _guard("postgres", unavailable, _event_series(sources.db, now, since)),
    )
    outcomes, stored = recorded_rows if recorded_rows is not None else ({}, {})
    points = []
    for minute in range(first, last + 1):
        point: dict[str, Any] = {
            "minute": datetime.fromtimestamp(minute * BUCKET_SECONDS, now.tzinfo).isoformat()
        }
        if counted is not None:
            figures = deliveries(counted.get(minute, Counter()), [(400, "-", stored.get(minute, 0))])
            point.update(
                accepted=figures["accepted"], duplicates=figures["duplicates"], rejected=figures["rejected"]
            )
        else:
            point.update(accepted=None, duplicates=None, rejected=None)
        if recorded_rows is not None:
            processed, ignored, failed, latency = outcomes.get(minute, (0, 0, 0, None))
            done = processed + ignored + failed
            point.update(
                processed=processed,
                ignored=ignored,
                failed=failed,
                success_rate=round((processed + ignored) / done, 4) if done else None,
                latency_seconds=_quantiles(latency),
            )
        else:
            point.update(
                processed=None, ignored=None, failed=None, success_rate=None, latency_seconds=_quantiles(None)
            )
        points.append(point)
    return {"minutes": points, "unavailable": unavailable}
