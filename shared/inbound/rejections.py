"""The operator's trace of every refused delivery: counted, logged without values, stored.

DESIGN.md: every rejected delivery is counted and logged (reason, event id, type, field names;
never values); a 422 or 400 whose signature was valid is also stored in
``rejected_deliveries`` with its payload, except when the failure is a missing consent (then
without the payload: a profile without consent must not be stored).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.db import transaction
from shared.errors import FieldError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    status_code: int
    reason: str
    event_id: str | None = None
    event_type: str | None = None
    errors: Sequence[FieldError] = ()
    payload: Any = None  # parsed JSON, or None when it must not (or cannot) be kept


_LOGGABLE_ID = re.compile(r"[A-Za-z0-9_:.\[\]-]{1,120}")


def loggable_id(value: str | None) -> str:
    """An id as it may appear in a log line: unverified headers may carry anything (newlines,
    text), so only a plain identifier is written as it is."""
    if value is None:
        return "-"
    return value if _LOGGABLE_ID.fullmatch(value) else "<not an identifier>"


def record_rejection_metrics(rejection: Rejection, *, endpoint: str) -> None:
    metrics.increment(
        "deliveries_rejected", endpoint=endpoint, status=str(rejection.status_code), reason=rejection.reason
    )
    log.warning(
        "delivery rejected: endpoint=%s status=%s reason=%s event_id=%s type=%s fields=%s",
        endpoint,
        rejection.status_code,
        rejection.reason,
        loggable_id(rejection.event_id),
        loggable_id(rejection.event_type),
        ",".join(loggable_id(error.field) for error in rejection.errors) or "-",
    )


async def store_rejections(pool: AsyncConnectionPool, rejections: Sequence[Rejection]) -> None:
    """Insert the rejections in one transaction; raises DependencyUnavailable if PostgreSQL is down."""
    if not rejections:
        return
    async with transaction(pool) as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO rejected_deliveries (event_id, event_type, status_code, reason, errors, payload) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    r.event_id,
                    r.event_type,
                    r.status_code,
                    r.reason,
                    Jsonb([e.as_dict() for e in r.errors]),
                    None if r.payload is None else Jsonb(r.payload, dumps=_dumps),
                )
                for r in rejections
            ],
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)
