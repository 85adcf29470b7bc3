"""``sync_dispatcher``'s core: ATS commands into ``sync_queue`` rows, and rows into portal calls.

**Queue part** (:meth:`SyncDispatcher.handle`, one ``ats-outbound`` message at a time). The
command is read (:mod:`shared.outbound.commands`). One without a usable ``command_id`` is parked
with an alert. Then one transaction (:mod:`shared.outbound.intake`), under the candidate's row
lock: a command seen before
(UNIQUE ``command_id``) changes nothing; one that can never be valid (unknown candidate, bad
fields, an interview or offer of another candidate) becomes a ``failed`` row with its reason,
its interview or offer ``failed`` when the candidate exists; otherwise the interview or offer
is upserted (an early answer from the portal may have created it: what it holds is kept), a
``candidate.status`` sets the stage there and then (the ATS is the authority, whatever the
portal later says) and supersedes the candidate's older pending status changes, and the row is
inserted ``processing`` with a lease, or ``pending`` when an older row of the candidate is still
unfinished (a candidate's rows go in order). After commit, a ``processing`` row gets its first
attempt.

**Timer part** (:meth:`SyncDispatcher.replay`). Nothing while the breaker is open. Otherwise
stale status changes are superseded, then due rows are claimed (``FOR UPDATE SKIP LOCKED``, the
oldest unfinished row per candidate, leased in the same statement) by ``concurrency`` workers
that keep that many calls in flight, until nothing is due or the run's budget (most of its
timer interval) is spent.

**An attempt** calls the portal with ``Idempotency-Key`` = the command id and decides, as a
value, what the answer means and what the row becomes (:mod:`shared.outbound.attempts`), then
records it in one transaction that
applies only while this worker still holds the lease: success completes the row and moves its
interview or offer forward only (``requested`` → ``pending``, ``sending`` → ``sent``, the stage
to ``offer`` when that is forward and the stage not final); a transient failure waits as
:mod:`shared.outbound.retry` says; a permanent one, or the sixth transient one, fails the row
with one ``sync_failed`` alert and fails its interview or offer (unless the portal's answer
already moved it on); a call that was never made (breaker open, our key refused) waits without
using an attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.alerts import AlertSink
from shared.db import transaction
from shared.errors import DependencyUnavailable, PermanentError, TransientError
from shared.messaging import ATS_OUTBOUND, MessageSender
from shared.outbound import store
from shared.outbound.attempts import (
    CALLS,
    AttemptResult,
    Claim,
    Complete,
    Delivered,
    Fail,
    Release,
    RetryAt,
    Transition,
    Unavailable,
    classify,
    decide,
)
from shared.outbound.commands import Command, CommandType, Unusable, read_command
from shared.outbound.intake import Duplicate, intake
from shared.outbound.retry import MAX_ATTEMPTS, RandomSource
from shared.outcomes import Failed, Ignored, Outcome, RetryLater
from shared.parked import PARK, park_parameters
from shared.portal_activity import INSERT_CALLS, CallRecord, calls_parameters, collect_calls
from shared.portal_client import PortalClient
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, MAX_DELAY, reschedule
from shared.rules import Stage, proposed_stage_change

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]

#: SQLSTATEs that say "try again", not "this statement is wrong".
_TRANSIENT_SQL = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
)


#: Statements that fail a command's interview or offer, unless something better is known.
_ENTITY_FAILED: Final[Mapping[CommandType, str]] = {
    CommandType.INTERVIEW_REQUEST: store.INTERVIEW_FAILED,
    CommandType.OFFER_SEND: store.OFFER_FAILED,
}
#: Statements that move a command's interview or offer forward on success.
_ENTITY_DELIVERED: Final[Mapping[CommandType, str]] = {
    CommandType.INTERVIEW_REQUEST: store.INTERVIEW_PENDING,
    CommandType.OFFER_SEND: store.OFFER_SENT,
}
#: The stage a delivered command proposes (forward only, never out of a final stage).
_STAGE_ON_DELIVERY: Final[Mapping[CommandType, Stage]] = {CommandType.OFFER_SEND: Stage.OFFER}
#: The stages each of those may be reached from, as the rules' table decides.
_FORWARD_FROM: Final[Mapping[Stage, list[str]]] = {
    target: [s.value for s in Stage if proposed_stage_change(s, target) is target]
    for target in _STAGE_ON_DELIVERY.values()
}


def _row_statement(
    claim: Claim, transition: Transition, attempted_at: datetime, now: datetime
) -> tuple[str, dict[str, Any], str]:
    """The ``sync_queue`` statement of ``transition``, its parameters, and the status it sets."""
    base: dict[str, Any] = {"id": claim.id, "owner": claim.owner, "now": now, "attempted_at": attempted_at}
    if isinstance(transition, Complete):
        return store.COMPLETE, {**base, "http_status": transition.http_status}, "completed"
    if isinstance(transition, RetryAt):
        params = {
            **base,
            "retry_count": transition.retry_count,
            "next_retry": transition.next_retry,
            "error": transition.error,
            "http_status": transition.http_status,
        }
        return store.RETRY_LATER, params, "pending"
    if isinstance(transition, Release):
        return (
            store.RELEASE,
            {**base, "next_retry": transition.next_retry, "error": transition.error},
            "pending",
        )
    params = {
        **base,
        "attempted_at": attempted_at if transition.attempted else None,
        "retry_count": transition.retry_count,
        "error": transition.error,
        "http_status": transition.http_status,
    }
    return store.FAIL, params, "failed"


@dataclass(slots=True)
class _Run:
    """One replay run's shared state: rows claimed and not yet attempted, calls in flight and
    ended (a condition notified whenever one ends), and whether to stop claiming."""

    claimed: deque[Claim] = field(default_factory=deque)
    claiming: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: asyncio.Condition = field(default_factory=asyncio.Condition)
    in_flight: int = 0
    finished: int = 0
    stop: bool = False

    def moved_on(self, seen: int) -> bool:
        return self.finished != seen or self.stop


@dataclass(slots=True)
class ReplayReport:
    """What one replay run did (for logs and tests)."""

    claimed: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    superseded: int = 0
    lost: int = 0  # leases lost to another worker: nothing recorded
    circuit_open_for: float | None = None
    waves: int = 0  # claim statements run
    results: dict[str, str] = field(default_factory=dict)  # command id -> what became of it


class SyncDispatcher:
    def __init__(
        self,
        *,
        db: AsyncConnectionPool,
        portal: PortalClient,
        alerter: AlertSink,
        sender: MessageSender,
        lease_seconds: float = 60.0,
        concurrency: int = 16,
        clock: Clock = lambda: datetime.now(UTC),
        random_source: RandomSource = random.random,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._db = db
        self._portal = portal
        self._alerter = alerter
        self._sender = sender
        self._lease = timedelta(seconds=lease_seconds)
        self._concurrency = concurrency
        self._clock = clock
        self._random = random_source
        self._monotonic = monotonic

    # --- queue part ---------------------------------------------------------------------------

    async def handle(self, message: QueuedMessage) -> Outcome:
        """One ``ats-outbound`` message: intake, then the first attempt (see the module doc).

        Never raises for the command's content; raises only when the database is down *and*
        the message cannot be re-sent for later (the host then abandons and redelivers).
        """
        command = read_command(message.body)
        if isinstance(command, Unusable):
            return await self._park(message, command.reason)
        try:
            claim, outcome = await intake(self._db, command, now=self._clock(), lease=self._lease)
        except Duplicate:
            claim, outcome = None, Ignored("duplicate command: already recorded")
        except (DependencyUnavailable, *_TRANSIENT_SQL) as exc:
            return await self._retry_message(message, f"intake deferred: {type(exc).__name__}")
        metrics.increment("sync_commands", outcome=type(outcome).__name__.lower())
        if isinstance(outcome, Failed):
            operation = command.type.value if isinstance(command, Command) else command.operation_type
            await self._alert_failed(command.command_id, operation, outcome.reason)
        if claim is not None:
            await self._attempt(claim)
        return outcome

    async def _park(self, message: QueuedMessage, reason: str) -> Outcome:
        """Park a message that cannot be a ``sync_queue`` row, or that waited 24 h for the
        database: the alert first, then the row (the body as sent, or its bytes in base64 when
        PostgreSQL refuses it). If the row cannot be written (the database is down), the
        message is sent back for later, never dropped."""
        metrics.increment("sync_commands", outcome="parked")
        await self._alerter.raise_alert(
            "command_parked", message.message_id or ATS_OUTBOUND, f"ats-outbound message parked: {reason}"
        )
        attempts = int(message.property_str(ATTEMPT) or message.delivery_count or 1)
        try:
            async with transaction(self._db) as conn:
                for as_base64 in (False, True):
                    try:
                        async with conn.transaction():
                            params = park_parameters(
                                ATS_OUTBOUND, message, reason, attempts, as_base64=as_base64
                            )
                            await conn.execute(PARK, params)
                        break
                    except _TRANSIENT_SQL:
                        raise
                    except (psycopg.Error, UnicodeDecodeError):
                        if as_base64:
                            raise
        except DependencyUnavailable:
            log.error(
                "could not park ats-outbound message %s (database unavailable); re-sending it",
                message.message_id,
            )
            await reschedule(
                self._sender,
                ATS_OUTBOUND,
                [message],
                now=self._clock(),
                not_before=MAX_DELAY.total_seconds(),
                park_after=None,
            )
            return RetryLater(f"parking deferred: {reason}")
        return Failed(f"parked: {reason}")

    async def _retry_message(self, message: QueuedMessage, reason: str) -> Outcome:
        """The database is down: re-send the message for later (DESIGN.md), park after 24 h."""
        log.warning("ats-outbound message %s: %s", message.message_id, reason)
        to_park = await reschedule(self._sender, ATS_OUTBOUND, [message], now=self._clock())
        if not to_park:
            return RetryLater(reason)
        return await self._park(message, f"the database was unavailable for 24 hours ({reason})")

    # --- timer part ---------------------------------------------------------------------------

    async def replay(self, *, budget_seconds: float = 1.0) -> ReplayReport:
        """Attempt due rows until none is due or ``budget_seconds`` are spent; nothing at all
        while the breaker is open.

        ``concurrency`` workers keep that many calls in flight: a worker that finds nothing
        claimed claims, in one statement, as many rows as there are free slots (the first claim
        always happens; later ones only within the budget). When nothing is due while calls are
        in flight, it waits for one to end (its candidate's next row may be due then). A claimed
        row is always attempted. A call that could not be made (the breaker opened, our key is
        refused) stops further claims: the rest would wait too.
        """
        report = ReplayReport()
        open_for = await self._portal.circuit_open_for()
        if open_for is not None:
            report.circuit_open_for = open_for
            return report
        started = self._monotonic()
        async with transaction(self._db) as conn:
            cursor = await conn.execute(store.SUPERSEDE_DUE, {"now": self._clock()})
            report.superseded = len(await cursor.fetchall())
        run = _Run()

        async def next_claim() -> Claim | None:
            while True:
                async with run.claiming:
                    if run.claimed:
                        return run.claimed.popleft()
                    if run.stop or (report.waves and self._monotonic() - started >= budget_seconds):
                        run.stop = True
                        return None
                    seen = run.finished
                    batch = await self._claim(self._concurrency - run.in_flight)
                    report.waves += 1
                    report.claimed += len(batch)
                    run.claimed.extend(batch)
                    if batch or run.finished != seen:
                        continue  # rows to attempt, or a call ended meanwhile: look again
                    if not run.in_flight:  # nothing due, and nothing that could make a row due
                        run.stop = True
                        return None
                # A call in flight may make its candidate's next row due: wait for one to end.
                async with run.ended:
                    await run.ended.wait_for(partial(run.moved_on, seen))

        async def worker() -> None:
            while (claim := await next_claim()) is not None:
                run.in_flight += 1
                try:
                    transition = await self._attempt(claim)
                finally:
                    run.in_flight -= 1
                    async with run.ended:
                        run.finished += 1
                        run.ended.notify_all()
                _tally(report, str(claim.command_id), transition)
                if isinstance(transition, Release):
                    run.stop = True

        await asyncio.gather(*(worker() for _ in range(self._concurrency)))
        return report

    async def _claim(self, limit: int) -> list[Claim]:
        now = self._clock()
        owner = uuid.uuid4()
        async with transaction(self._db) as conn, conn.pipeline(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                store.CLAIM_DUE,
                {"now": now, "limit": limit, "lease_until": now + self._lease, "owner": owner},
            )
            rows = await cur.fetchall()
        claims = [
            Claim(
                id=row["id"],
                command_id=row["command_id"],
                operation=CommandType(row["operation_type"]),
                entity_id=row["entity_id"],
                candidate_id=row["candidate_id"],
                payload=row["payload"],
                retry_count=row["retry_count"],
                owner=owner,
            )
            for row in rows
        ]
        expired = sum(1 for row in rows if row["lease_expired"])
        if expired:
            metrics.increment("sync_leases_expired", expired)
            log.warning("%d sync_queue rows taken again after their lease ran out", expired)
        return claims

    # --- an attempt ----------------------------------------------------------------------------

    async def _attempt(self, claim: Claim) -> Transition | None:
        """Call the portal for ``claim`` and record what became of it; None if the lease was lost."""
        attempted_at = self._clock()
        result: AttemptResult
        with collect_calls() as calls:  # written with the attempt's record, in its transaction
            if claim.retry_count >= MAX_ATTEMPTS:
                result = Unavailable(
                    "every attempt was used (the worker was lost during the last one)", None, None
                )
                transition: Transition = Fail(claim.retry_count, result.reason, None, attempted=False)
            else:
                call, prefix = CALLS[claim.operation]
                try:
                    created = await call(self._portal, claim)
                except (TransientError, PermanentError) as exc:
                    result = classify(exc)
                else:
                    result = Delivered(created.status_code, created.portal_id(prefix) if prefix else None)
                transition = decide(claim.retry_count, result, now=self._clock(), random=self._random)
        metrics.increment(
            "sync_attempts", result=type(result).__name__.lower(), operation=claim.operation.value
        )
        try:
            recorded = await self._record(claim, transition, attempted_at, calls)
        except (DependencyUnavailable, *_TRANSIENT_SQL) as exc:
            # The lease will run out and the row be taken again; the portal replays a success.
            log.warning("attempt of command %s not recorded (%s)", claim.command_id, type(exc).__name__)
            return None
        if not recorded:
            metrics.increment("sync_leases_lost")
            log.warning("command %s: lease lost to another worker; nothing recorded", claim.command_id)
            return None
        if isinstance(transition, Fail):
            await self._alert_failed(claim.command_id, claim.operation.value, transition.error)
        return transition

    async def _record(
        self, claim: Claim, transition: Transition, attempted_at: datetime, calls: list[CallRecord]
    ) -> bool:
        """One transaction, pipelined: the row (only while this worker holds its lease), then
        what depends on it (guarded in SQL by the same lease), then the portal calls made."""
        now = self._clock()
        row_sql, row_params, recorded_status = _row_statement(claim, transition, attempted_at, now)
        guard = {"row": claim.id, "owner": claim.owner, "recorded": recorded_status}
        stage = _STAGE_ON_DELIVERY.get(claim.operation) if isinstance(transition, Complete) else None
        async with transaction(self._db) as conn, conn.pipeline():
            if stage is not None:  # the candidate first: the one lock order
                await conn.execute(store.LOCK_CANDIDATE, (claim.candidate_id,))
            row = await conn.execute(row_sql, row_params)
            entity_sql = (
                _ENTITY_DELIVERED.get(claim.operation)
                if isinstance(transition, Complete)
                else _ENTITY_FAILED.get(claim.operation)
                if isinstance(transition, Fail)
                else None
            )
            if entity_sql is not None:
                portal_id = transition.portal_id if isinstance(transition, Complete) else None
                await conn.execute(
                    entity_sql, {**guard, "entity_id": UUID(claim.entity_id), "portal_id": portal_id}
                )
            if stage is not None:
                await conn.execute(
                    store.STAGE_FORWARD,
                    {
                        **guard,
                        "candidate_id": claim.candidate_id,
                        "stage": stage.value,
                        "from_stages": _FORWARD_FROM[stage],
                        "reason": claim.operation.value,
                        "command_id": str(claim.command_id),
                    },
                )
            if calls:
                await conn.execute(INSERT_CALLS, calls_parameters(calls))
            return await row.fetchone() is not None

    async def _alert_failed(self, command_id: UUID, operation: str, reason: str) -> None:
        metrics.increment("sync_failed", operation=operation)
        await self._alerter.raise_alert(
            "sync_failed", str(command_id), f"command {command_id} ({operation}) failed: {reason}"
        )


# --- helpers --------------------------------------------------------------------------------


_TALLY: Final[Mapping[type, str]] = {
    Complete: "completed",
    RetryAt: "retried",
    Release: "deferred",
    Fail: "failed",
}


def _tally(report: ReplayReport, command_id: str, transition: Transition | None) -> None:
    name = _TALLY[type(transition)] if transition is not None else "lost"
    setattr(report, name, getattr(report, name) + 1)
    report.results[command_id] = name
