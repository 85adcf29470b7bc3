"""``portal_activity_log``: one row per call the app makes to the portal's REST API.

The inbound processor writes its own rows (one per event handled, ``direction = 'inbound'``) in
the transaction that applies the event. Calls to the portal are written here by
:class:`~shared.portal_client.PortalClient`, whatever flow makes them (the profile fetch of the
processor, the ATS commands of ``sync_dispatcher``, the breaker's probe): ``direction =
'outbound'``, the operation, the entity the call is about (an id, never personal data), the
outcome, the HTTP status when there was one, the duration and a short error (status and field
names, never the portal's wording, which may echo values).

Recording is part of the call, awaited, so a row exists as soon as the call returns; it never
fails the call: a database that cannot take the row is logged and counted, and the call's own
outcome stands. A flow that writes a transaction right after its call (``sync_dispatcher``
records every attempt) may instead collect its task's calls (:func:`collect_calls`) and write
them in that transaction (:data:`INSERT_CALLS`, :func:`calls_parameters`): one round trip and
one connection fewer per call, which is most of what the outbound path costs besides the call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from shared import metrics

log = logging.getLogger(__name__)


class CallOutcome(StrEnum):
    """``portal_activity_log.outcome`` of a call, named after the error class it maps to."""

    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # a permanent answer (PortalRejected)
    UNAVAILABLE = "unavailable"  # transient: 408, 429, 5xx, timeout, broken connection
    CREDENTIALS_REJECTED = "credentials_rejected"  # 401/403 even after a key refresh
    REFUSED = "refused"  # the portal answered, and we refused the answer (a document's size or hash)


def call_outcome(error: BaseException | None) -> CallOutcome:
    """The outcome word of a call that ended with ``error`` (``None``: it succeeded)."""
    from shared.errors import PortalCredentialRejected, PortalRejected, TransientError

    if error is None:
        return CallOutcome.SUCCEEDED
    if isinstance(error, PortalCredentialRejected):
        return CallOutcome.CREDENTIALS_REJECTED
    if isinstance(error, TransientError):
        return CallOutcome.UNAVAILABLE
    if isinstance(error, PortalRejected):
        return CallOutcome.REJECTED
    return CallOutcome.REFUSED


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call to the portal, as it goes into ``portal_activity_log``."""

    operation: str
    entity_id: str | None
    outcome: CallOutcome
    http_status: int | None
    duration_ms: int
    error: str | None = None


class ActivityRecorder(Protocol):
    """Where the portal client writes its calls; never raises."""

    async def record(self, call: CallRecord) -> None: ...


#: Calls collected by the current task instead of written (see :func:`collect_calls`).
_collected: ContextVar[list[CallRecord] | None] = ContextVar("portal_calls_collected", default=None)


@contextmanager
def collect_calls() -> Iterator[list[CallRecord]]:
    """Within this block, the current task's calls are collected in the list it gives instead
    of written; the caller writes them (:data:`INSERT_CALLS`) in its own transaction."""
    collected: list[CallRecord] = []
    token = _collected.set(collected)
    try:
        yield collected
    finally:
        _collected.reset(token)


INSERT_CALLS = """
INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, http_status, duration_ms, error)
SELECT 'outbound', t.operation, t.entity_id, t.outcome, t.http_status, t.duration_ms, t.error
FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::int[], %s::text[])
     AS t(operation, entity_id, outcome, http_status, duration_ms, error)
"""


def calls_parameters(calls: Sequence[CallRecord]) -> tuple[list[object], ...]:
    """The parameters of :data:`INSERT_CALLS` for ``calls``."""
    return (
        [c.operation for c in calls],
        [c.entity_id for c in calls],
        [c.outcome.value for c in calls],
        [c.http_status for c in calls],
        [c.duration_ms for c in calls],
        [c.error for c in calls],
    )


INSERT_CALL = """
INSERT INTO portal_activity_log (direction, operation, entity_id, outcome, http_status, duration_ms, error)
VALUES ('outbound', %s, %s, %s, %s, %s, %s)
"""


class PgActivityLog:
    """Writes each call as one row, in its own short transaction."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record(self, call: CallRecord) -> None:
        collected = _collected.get()
        if collected is not None:
            collected.append(call)
            return
        try:
            async with self._pool.connection() as conn:
                await conn.execute(
                    INSERT_CALL,
                    (
                        call.operation,
                        call.entity_id,
                        call.outcome.value,
                        call.http_status,
                        call.duration_ms,
                        call.error,
                    ),
                )
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            metrics.increment("portal_activity_unrecorded")
            log.warning(
                "portal call %s (%s) not recorded in portal_activity_log: %s",
                call.operation,
                call.outcome.value,
                type(exc).__name__,
            )
