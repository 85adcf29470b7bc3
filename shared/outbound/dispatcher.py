"""``sync_dispatcher``'s core: ATS commands into ``sync_queue`` rows, and rows into portal calls.

**Queue part** (:meth:`SyncDispatcher.handle`, one ``ats-outbound`` message at a time). The
command is read (:mod:`shared.outbound.commands`). One without a usable ``command_id`` is parked
with an alert. Then one transaction, under the candidate's row lock: a command seen before
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
value, what the answer means (:data:`AttemptResult`), then records it in one transaction that
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.alerts import AlertSink
from shared.db import transaction
from shared.errors import (
    CircuitOpen,
    DependencyUnavailable,
    PermanentError,
    PortalCredentialRejected,
    TransientError,
)
from shared.messaging import ATS_OUTBOUND, MessageSender
from shared.outbound import store
from shared.outbound.commands import Command, CommandType, Invalid, Unusable, read_command
from shared.outbound.retry import MAX_ATTEMPTS, RandomSource, defer_delay, retry_delay
from shared.outcomes import Failed, Ignored, Outcome, Processed, RetryLater
from shared.parked import PARK, park_parameters
from shared.portal_activity import INSERT_CALLS, CallRecord, calls_parameters, collect_calls
from shared.portal_client import Created, PortalClient
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, MAX_DELAY, reschedule
from shared.rules import Stage, proposed_stage_change, stage_set_by_ats

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


class _Duplicate(Exception):
    """Raised inside the intake transaction (rolling it back) when the command is already there."""


# --- what an attempt came to ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """The portal took the command (2xx); ``portal_id`` is the id it gave, when it gave one."""

    http_status: int
    portal_id: str | None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A transient failure (408, 429, 5xx, timeout, broken connection): an attempt used."""

    reason: str
    http_status: int | None
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class Refused:
    """A permanent answer (400, 404, 409, 422): the command can never succeed as sent."""

    reason: str
    http_status: int | None


@dataclass(frozen=True, slots=True)
class Deferred:
    """No call was made (breaker open) or our key was refused: waits, no attempt used."""

    reason: str
    not_before: float | None


AttemptResult = Delivered | Unavailable | Refused | Deferred


def classify(error: Exception) -> AttemptResult:
    """The attempt result of an error from the portal client (pure)."""
    if isinstance(error, CircuitOpen | PortalCredentialRejected):
        return Deferred(str(error), error.retry_after)
    if isinstance(error, TransientError):
        return Unavailable(str(error), getattr(error, "status_code", None), error.retry_after)
    if isinstance(error, PermanentError):
        return Refused(str(error), getattr(error, "status_code", None))
    raise error


# --- what the row becomes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Complete:
    http_status: int
    portal_id: str | None


@dataclass(frozen=True, slots=True)
class RetryAt:
    retry_count: int
    next_retry: datetime
    error: str
    http_status: int | None


@dataclass(frozen=True, slots=True)
class Release:
    next_retry: datetime
    error: str


@dataclass(frozen=True, slots=True)
class Fail:
    retry_count: int
    error: str
    http_status: int | None
    attempted: bool


Transition = Complete | RetryAt | Release | Fail


def decide(retry_count: int, result: AttemptResult, *, now: datetime, random: RandomSource) -> Transition:
    """What a row whose ``retry_count`` failed attempts came before becomes after ``result``."""
    if isinstance(result, Delivered):
        return Complete(result.http_status, result.portal_id)
    if isinstance(result, Deferred):
        return Release(now + timedelta(seconds=defer_delay(result.not_before)), result.reason)
    failed = retry_count + 1
    if isinstance(result, Refused):
        return Fail(failed, result.reason, result.http_status, attempted=True)
    delay = retry_delay(failed, retry_after=result.retry_after, random=random)
    if delay is None:
        return Fail(
            failed, f"attempt {failed} failed, no attempt left: {result.reason}", result.http_status, True
        )
    return RetryAt(failed, now + timedelta(seconds=delay), result.reason, result.http_status)


# --- the rows a worker holds ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A ``sync_queue`` row this worker holds the lease of, with what it needs to call."""

    id: int
    command_id: UUID
    operation: CommandType
    entity_id: str
    candidate_id: UUID
    payload: Mapping[str, Any]
    retry_count: int
    owner: UUID

    @property
    def body(self) -> Mapping[str, Any]:
        body: Mapping[str, Any] = self.payload["request"]
        return body

    @property
    def portal_candidate_id(self) -> str:
        return str(self.payload["portal_candidate_id"])


PortalCall = Callable[[PortalClient, Claim], Awaitable[Created]]

#: The portal call of each command type, and the prefix of the id its 201 gives.
CALLS: Final[Mapping[CommandType, tuple[PortalCall, str | None]]] = {
    CommandType.INTERVIEW_REQUEST: (
        lambda portal, c: portal.create_interview_request(
            c.body, idempotency_key=str(c.command_id), entity_id=c.entity_id
        ),
        "ireq_",
    ),
    CommandType.OFFER_SEND: (
        lambda portal, c: portal.create_offer(
            c.body, idempotency_key=str(c.command_id), entity_id=c.entity_id
        ),
        "off_",
    ),
    CommandType.CANDIDATE_STATUS: (
        lambda portal, c: portal.update_status(
            c.portal_candidate_id, c.body, idempotency_key=str(c.command_id)
        ),
        None,
    ),
}

#: Statements that fail a command's interview or offer, unless something better is known.
_ENTITY_FAILED: Final[Mapping[CommandType, str]] = {
    CommandType.INTERVIEW_REQUEST: store.INTERVIEW_FAILED,
    CommandType.OFFER_SEND: store.OFFER_FAILED,
}
_ENTITY_FAILED_AT_INTAKE: Final[Mapping[str, str]] = {
    CommandType.INTERVIEW_REQUEST.value: store.FAILED_INTERVIEW_AT_INTAKE,
    CommandType.OFFER_SEND.value: store.FAILED_OFFER_AT_INTAKE,
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
            claim, outcome = await self._intake(command)
        except _Duplicate:
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

    async def _intake(self, command: Command | Invalid) -> tuple[Claim | None, Outcome]:
        """One transaction, pipelined: one round trip for the reads, one for the writes."""
        now = self._clock()
        async with transaction(self._db) as conn, conn.pipeline():
            # A command seen before is found by its row's UNIQUE command_id when it is inserted
            # last: _Duplicate then rolls back whatever this transaction changed before.
            reads = await _read_for_intake(conn, command)
            if isinstance(command, Invalid):
                return None, await _record_invalid(conn, command, reads.candidate is not None, now)
            if reads.candidate is None:
                invalid = _invalid_from(command, "candidate_id: unknown candidate")
                return None, await _record_invalid(conn, invalid, False, now)
            sql = _ENTITY_INTAKE.get(command.type)
            if sql is not None and reads.entity is not None and reads.entity[0] != command.candidate_id:
                # The portal would take it, and its answer would then apply to the wrong candidate.
                refused = _invalid_from(command, f"data.{sql.field}: belongs to another candidate")
                return None, await _record_invalid(conn, refused, True, now)
            stale = [
                r["id"]
                for r in reads.open_rows
                if command.type is CommandType.CANDIDATE_STATUS
                and r["operation_type"] == CommandType.CANDIDATE_STATUS.value
                and r["status"] == "pending"
            ]
            waits = len(reads.open_rows) > len(stale)
            owner = uuid.uuid4()
            portal_id = reads.candidate["portal_candidate_id"]
            payload = {
                "command": command.document,
                "portal_candidate_id": portal_id,
                "request": command.portal_body(portal_id),
            }
            if sql is not None:
                details = {k: v for k, v in command.fields.items() if k != sql.field}
                await conn.execute(
                    sql.insert if reads.entity is None else sql.update,
                    {
                        "id": command.entity_id,
                        "candidate_id": command.candidate_id,
                        "timezone": command.fields.get("timezone"),
                        "details": Jsonb({"ats": details}),
                    },
                )
            row = await conn.execute(
                store.INSERT_ROW,
                {
                    "command_id": command.command_id,
                    "operation_type": command.type.value,
                    "entity_id": command.entity_key,
                    "candidate_id": command.candidate_id,
                    "payload": Jsonb(payload),
                    "status": "pending" if waits else "processing",
                    "next_retry": now if waits else None,
                    "lease_until": None if waits else now + self._lease,
                    "lease_owner": None if waits else owner,
                    "last_error": None,
                    "now": now,
                },
            )
            if stale:
                await conn.execute(
                    store.SUPERSEDE_FOR_CANDIDATE,
                    {"command_id": command.command_id, "ids": stale, "now": now},
                )
            if command.stage is not None:
                await _set_stage(conn, command, Stage(reads.candidate["stage"]), command.stage)
            inserted = await row.fetchone()
            if inserted is None:  # a concurrent delivery of the same command won
                raise _Duplicate
        claim = None
        if not waits:
            claim = Claim(
                id=inserted[0],
                command_id=command.command_id,
                operation=command.type,
                entity_id=command.entity_key,
                candidate_id=command.candidate_id,
                payload=payload,
                retry_count=0,
                owner=owner,
            )
        return claim, Processed()

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


@dataclass(frozen=True, slots=True)
class _EntityIntake:
    """The statements that prepare a command's interview or offer at intake."""

    lock: str
    insert: str
    update: str
    field: str


_ENTITY_INTAKE: Final[Mapping[CommandType, _EntityIntake]] = {
    CommandType.INTERVIEW_REQUEST: _EntityIntake(
        store.LOCK_INTERVIEW, store.INSERT_INTERVIEW, store.UPDATE_INTERVIEW_AT_INTAKE, "request_id"
    ),
    CommandType.OFFER_SEND: _EntityIntake(
        store.LOCK_OFFER, store.INSERT_OFFER, store.UPDATE_OFFER_AT_INTAKE, "offer_id"
    ),
}


@dataclass(frozen=True, slots=True)
class _IntakeReads:
    """What intake decides on, read (and locked) in one pipelined round trip."""

    candidate: dict[str, Any] | None
    open_rows: list[dict[str, Any]]
    entity: tuple[Any, ...] | None


async def _read_for_intake(conn: AsyncConnection[Any], command: Command | Invalid) -> _IntakeReads:
    """The candidate, its unfinished rows and the interview or offer, locked in the one order
    (candidate, rows, entity); sent together."""
    candidate = open_rows = entity = None
    if command.candidate_id is not None:
        candidate = conn.cursor(row_factory=dict_row)
        await candidate.execute(store.LOCK_CANDIDATE, (command.candidate_id,))
    if isinstance(command, Command):
        open_rows = conn.cursor(row_factory=dict_row)
        await open_rows.execute(store.LOCK_OPEN_ROWS, (command.candidate_id,))
        sql = _ENTITY_INTAKE.get(command.type)
        if sql is not None:
            entity = await conn.execute(sql.lock, (command.entity_id,))
    return _IntakeReads(
        candidate=await candidate.fetchone() if candidate is not None else None,
        open_rows=await open_rows.fetchall() if open_rows is not None else [],
        entity=await entity.fetchone() if entity is not None else None,
    )


async def _record_invalid(
    conn: AsyncConnection[Any], command: Invalid, candidate_exists: bool, now: datetime
) -> Outcome:
    """A command that can never be valid: a ``failed`` row with its reason, and its interview
    or offer ``failed`` when the candidate exists."""
    row = await conn.execute(
        store.INSERT_ROW,
        {
            "command_id": command.command_id,
            "operation_type": command.operation_type,
            "entity_id": command.entity_key,
            "candidate_id": command.candidate_id if candidate_exists else None,
            "payload": Jsonb({"command": command.document}),
            "status": "failed",
            "next_retry": None,
            "lease_until": None,
            "lease_owner": None,
            "last_error": command.reason,
            "now": now,
        },
    )
    statement = _ENTITY_FAILED_AT_INTAKE.get(command.operation_type)
    if candidate_exists and statement is not None and command.entity_id is not None:
        await conn.execute(statement, {"entity_id": command.entity_id, "candidate_id": command.candidate_id})
    if await row.fetchone() is None:
        raise _Duplicate  # rolls the transaction back, the entity change with it
    log.warning("command %s refused: %s", command.command_id, command.reason)
    return Failed(command.reason)


async def _set_stage(conn: AsyncConnection[Any], command: Command, current: Stage, commanded: Stage) -> None:
    """``candidate.status`` sets the stage unconditionally (the ATS is the authority)."""
    target = stage_set_by_ats(current, commanded)
    if target is None:
        return
    await conn.execute(store.SET_STAGE, (target.value, command.candidate_id))
    await conn.execute(
        store.INSERT_HISTORY,
        (command.candidate_id, current.value, target.value, command.type.value, str(command.command_id)),
    )


def _invalid_from(command: Command, reason: str) -> Invalid:
    return Invalid(
        command_id=command.command_id,
        operation_type=command.type.value,
        candidate_id=command.candidate_id,
        entity_id=command.entity_id,
        entity_key=command.entity_key,
        reason=reason,
        document=command.document,
    )


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
