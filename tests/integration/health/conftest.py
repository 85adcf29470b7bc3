"""Health fixtures: the app's runtime on this test's database and Redis prefix, and helpers
that write the rows whose arithmetic the metrics are checked against."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
import pytest

from shared.runtime import Runtime


@pytest.fixture
async def runtime(app_environ) -> AsyncIterator[Runtime]:
    rt = await Runtime.from_environ(app_environ)
    yield rt
    await rt.close()


class Rows:
    """Writes rows straight into the test's database (the metrics read what is there)."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._n = 0

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def event(
        self,
        status: str,
        *,
        received_at: datetime,
        processed_at: datetime,
        reason: str | None = None,
        event_type: str = "candidate.created",
        candidate: str | None = None,
    ) -> str:
        self._n += 1
        event_id = f"evt_row_{self._n:06d}"
        self.execute(
            "INSERT INTO webhook_events (event_type, event_id, payload, processed, status, last_error, "
            "received_at, processed_at, portal_candidate_id) VALUES (%s, %s, '{}', %s, %s, %s, %s, %s, %s)",
            event_type,
            event_id,
            status != "failed",
            status,
            reason,
            received_at,
            processed_at,
            candidate,
        )
        return event_id

    def rejection(self, status: int, reason: str, *, received_at: datetime) -> None:
        self.execute(
            "INSERT INTO rejected_deliveries (event_id, event_type, status_code, reason, received_at) "
            "VALUES ('evt_rejected', 'candidate.created', %s, %s, %s)",
            status,
            reason,
            received_at,
        )

    def call(
        self, operation: str, outcome: str, duration_ms: int, *, at: datetime, status: int = 201
    ) -> None:
        self.execute(
            "INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, http_status, "
            "duration_ms, created_at) VALUES ('outbound', %s, 'x', %s, %s, %s, %s)",
            operation,
            outcome,
            status,
            duration_ms,
            at,
        )


@pytest.fixture
def rows(database_url: str) -> Rows:
    return Rows(database_url)


def percentile_cont(values: Sequence[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
