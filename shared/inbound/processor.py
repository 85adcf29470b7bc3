"""The event processor: a batch of queued portal events into the ATS database, once each.

One transaction per batch. Every event is recorded in ``webhook_events`` (UNIQUE ``event_id``:
a repeat is a no-op) in the same transaction as its effects. Decisions are taken on rows locked
for the batch (:mod:`shared.inbound.apply`); the statements are merged into set-based ones per
kind (:func:`shared.inbound.store.coalesce`) and sent pipelined with the activity log, which is
what makes draining a backlog fast. Should PostgreSQL refuse a statement (a bug or a data problem no
validation foresaw), the batch is rolled back and applied again with one savepoint per event, so
the event at fault is marked ``failed`` with the reason and its batch-mates still apply.

Failures are sorted by kind (DESIGN.md):
* permanent (invalid event, candidate unknown to the portal): recorded ``failed``, never raised;
* transient (database, portal fetch): the message is re-sent to ``portal-events`` scheduled after
  a backoff and the original completed; after 24 h it is parked with an alert;
* anything else raises, so the host abandons and, after ``maxDeliveryCount``, dead-letters.

After commit the events are marked processed in Redis (the receiver's fast path) and the outbox
(document transfers) is flushed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared import metrics, outbox
from shared.alerts import Alerter
from shared.contract.envelope import (
    ConsentMissing,
    MalformedDelivery,
    decode_json_object,
    validate_envelope_object,
)
from shared.db import transaction
from shared.errors import DependencyUnavailable, PortalRejected, TransientError, ValidationFailed
from shared.inbound import apply, store
from shared.inbound.changes import InboundEvent, InterviewAnswer, OfferAnswer, Profile
from shared.inbound.transform import profile as profile_from_data
from shared.inbound.transform import to_change
from shared.messaging import PORTAL_EVENTS, MessageSender
from shared.portal_client import PortalClient
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, reschedule
from shared.redis_store import ProcessedEvents, RedisUnavailable
from shared.rules import ScoringRules

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_TRANSIENT_SQLSTATES = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
)
_FETCH_CONCURRENCY = 8
_REPORT_COUNTERS = {
    "processed": "processed",
    "ignored": "ignored",
    "failed": "failed",
    "duplicate": "duplicates",
}


@dataclass(slots=True)
class _Item:
    """One message of the batch and what became of it."""

    message: QueuedMessage
    event_id: str
    event_type: str
    event: InboundEvent | None = None
    failure: str | None = None  # permanent: recorded failed with this reason
    keep_payload: bool = True
    payload_text: str = "{}"
    transient: bool = False  # retry later (re-sent with backoff)
    outcome: str = "processed"


@dataclass(slots=True)
class BatchReport:
    processed: int = 0
    ignored: int = 0
    failed: int = 0
    duplicates: int = 0
    rescheduled: int = 0
    parked: int = 0
    event_outcomes: dict[str, str] = field(default_factory=dict)


class EventProcessor:
    def __init__(
        self,
        *,
        db: AsyncConnectionPool,
        sender: MessageSender,
        processed: ProcessedEvents,
        portal: PortalClient,
        alerter: Alerter,
        rules: ScoringRules,
        portal_base_url: str,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._sender = sender
        self._processed = processed
        self._portal = portal
        self._alerter = alerter
        self._rules = rules
        self._portal_base_url = portal_base_url
        self._clock = clock

    async def process(self, messages: Sequence[QueuedMessage]) -> BatchReport:
        items = _dedupe([self._decode(m) for m in messages])
        report = BatchReport()
        try:
            known_events, known_candidates = await self._lookup(items)
            fetched = await self._fetch_missing(items, known_events, known_candidates)
            await self._apply(items, fetched, known_candidates)
        except (DependencyUnavailable, *_TRANSIENT_SQLSTATES) as exc:
            log.warning(
                "batch of %d events hit a transient failure (%s); re-sending with backoff",
                len(items),
                type(exc).__name__,
            )
            for item in items:
                item.transient = True
        await self._after_commit(items, report)
        return report

    # --- steps ---------------------------------------------------------------------------

    def _decode(self, message: QueuedMessage) -> _Item:
        received_at = _received_at(message, self._clock())
        try:
            obj = decode_json_object(message.body)
        except MalformedDelivery:
            return _Item(
                message,
                message.message_id.split(":r")[0],
                "unknown",
                failure="body is not a JSON object",
                keep_payload=False,
            )
        event_id = obj.get("id") if isinstance(obj.get("id"), str) else message.message_id.split(":r")[0]
        event_type = obj.get("type") if isinstance(obj.get("type"), str) else "unknown"
        item = _Item(message, str(event_id), str(event_type), payload_text=message.body.decode())
        try:
            envelope, _ = validate_envelope_object(obj, portal_base_url=self._portal_base_url)
        except MalformedDelivery as exc:
            item.failure = f"malformed event ({exc.reason.value}): {_fields(exc.errors)}"
            return item
        except ValidationFailed as exc:
            item.failure = f"event data failed validation: {_fields(exc.errors)}"
            item.keep_payload = not isinstance(exc, ConsentMissing)
            return item
        item.event = InboundEvent(
            event_id=envelope.id,
            event_type=envelope.type,
            created_at=envelope.created_at,
            received_at=received_at,
            payload=obj,
            change=to_change(envelope.type, obj["data"]),
        )
        return item

    async def _lookup(self, items: list[_Item]) -> tuple[set[str], set[str]]:
        """Event ids already recorded, and candidates already held (one round trip)."""
        event_ids = [item.event_id for item in items]
        candidate_ids = sorted(
            {
                item.event.change.portal_candidate_id
                for item in items
                if item.event is not None and item.event.change is not None
            }
        )
        async with transaction(self._db) as conn:
            cursor = await conn.execute(
                store.LOOKUP,
                (event_ids, candidate_ids),
            )
            rows = await cursor.fetchall()
        return {v for k, v in rows if k == "e"}, {v for k, v in rows if k == "c"}

    async def _fetch_missing(
        self, items: list[_Item], known_events: set[str], known_candidates: set[str]
    ) -> dict[str, Profile]:
        """Fetch from the portal the profile of every candidate an event needs but the ATS lacks."""
        in_batch = {
            item.event.change.portal_candidate_id
            for item in items
            if item.event is not None and isinstance(item.event.change, Profile)
        }
        needed: dict[str, list[_Item]] = {}
        for item in items:
            if item.event is None or item.event.change is None or item.event_id in known_events:
                continue
            cid = item.event.change.portal_candidate_id
            if cid not in known_candidates and cid not in in_batch:
                needed.setdefault(cid, []).append(item)
        if not needed:
            return {}
        limit = asyncio.Semaphore(_FETCH_CONCURRENCY)

        async def fetch(cid: str) -> Profile:
            async with limit:
                candidate = await self._portal.get_candidate(cid)
            obj = {
                "id": "evt_fetched",
                "type": "candidate.updated",
                "created_at": self._clock().isoformat(),
                "data": {"candidate": candidate},
            }
            validate_envelope_object(obj, portal_base_url=self._portal_base_url)
            if candidate.get("id") != cid:
                raise PortalRejected("portal answered another candidate's profile", status_code=502)
            return profile_from_data({"candidate": candidate})

        results = await asyncio.gather(*(fetch(cid) for cid in needed), return_exceptions=True)
        fetched: dict[str, Profile] = {}
        for cid, result in zip(needed, results, strict=True):
            if isinstance(result, Profile):
                fetched[cid] = result
                metrics.increment("candidate_profiles_fetched")
                continue
            for item in needed[cid]:
                if isinstance(result, TransientError):
                    item.transient = True
                elif isinstance(result, PortalRejected) and result.status_code == 404:
                    item.failure = "candidate unknown to the portal (GET /v1/candidates answered 404)"
                elif isinstance(result, PortalRejected):
                    item.failure = f"portal refused the candidate profile ({result.status_code})"
                elif isinstance(result, ValidationFailed):
                    item.failure = (
                        f"candidate profile from the portal failed validation: {_fields(result.errors)}"
                    )
                elif isinstance(result, BaseException):
                    raise result
        return fetched

    async def _apply(self, items: list[_Item], fetched: dict[str, Profile], known: set[str]) -> None:
        try:
            await self._transaction(items, fetched, known, pipelined=True)
        except psycopg.errors.Error as exc:
            if isinstance(exc, (psycopg.OperationalError, *_TRANSIENT_SQLSTATES)):
                raise
            log.warning(
                "PostgreSQL refused a statement of the batch (%s); applying event by event",
                getattr(exc, "sqlstate", None),
            )
            await self._transaction(items, fetched, known, pipelined=False)

    async def _transaction(
        self, items: list[_Item], fetched: dict[str, Profile], known: set[str], *, pipelined: bool
    ) -> None:
        recordable = [item for item in items if not item.transient]
        if not recordable:
            return
        async with transaction(self._db) as conn:
            new_ids = await _record_events(conn, recordable)
            for item in recordable:
                if item.event_id not in new_ids:
                    item.outcome = "duplicate"
                elif item.failure is not None:
                    item.outcome = "failed"
                elif item.event is not None and item.event.change is None:
                    item.outcome = "ignored"
                else:
                    item.outcome = "processed"
            to_apply = sorted(
                (item for item in recordable if item.outcome == "processed" and item.event is not None),
                key=lambda item: (item.event.created_at, item.event_id),  # type: ignore[union-attr]
            )
            state = await self._lock(conn, to_apply, fetched, known)
            if pipelined:
                await self._apply_pipelined(conn, to_apply, state, recordable)
            else:
                await self._apply_each(conn, to_apply, state)
                await _log_activity(conn, recordable)

    async def _apply_pipelined(
        self,
        conn: psycopg.AsyncConnection[Any],
        to_apply: list[_Item],
        state: apply.BatchState,
        recordable: list[_Item],
    ) -> None:
        """Decide every event, then send the merged statements and the activity log in one
        pipeline (the fast path)."""
        writes: list[apply.Statement] = []
        for item in to_apply:
            assert item.event is not None
            try:
                writes.extend(apply.decide(item.event, state, self._rules))
            except apply.UnknownCandidate:
                await self._fail(conn, item, "candidate unknown to the ATS and not fetched")
        async with conn.pipeline():
            for sql, params in store.coalesce(writes):
                await conn.execute(sql, params)
            await _log_activity(conn, recordable)

    async def _apply_each(
        self, conn: psycopg.AsyncConnection[Any], to_apply: list[_Item], state: apply.BatchState
    ) -> None:
        """One savepoint per event: an event PostgreSQL refuses fails alone (the slow path)."""
        for item in to_apply:
            assert item.event is not None
            snapshot = _snapshot(state, item.event)
            try:
                async with conn.transaction():
                    for sql, params in apply.decide(item.event, state, self._rules):
                        await conn.execute(sql, params)
            except apply.UnknownCandidate:
                await self._fail(conn, item, "candidate unknown to the ATS and not fetched")
            except psycopg.errors.Error as exc:
                if isinstance(exc, (psycopg.OperationalError, *_TRANSIENT_SQLSTATES)):
                    raise
                _restore(state, item.event, snapshot)
                await self._fail(
                    conn, item, f"PostgreSQL refused the event's effect (SQLSTATE {exc.sqlstate})"
                )

    async def _lock(
        self,
        conn: psycopg.AsyncConnection[Any],
        to_apply: list[_Item],
        fetched: dict[str, Profile],
        known: set[str],
    ) -> apply.BatchState:
        # Candidates seen by _lookup exist (they are never deleted): inserting them would be a
        # no-op ON CONFLICT, so their profiles are neither serialised nor sent.
        new_profiles: dict[str, tuple[Profile, str]] = {}
        for item in to_apply:
            assert item.event is not None
            assert item.event.change is not None
            change = item.event.change
            cid = change.portal_candidate_id
            if cid in known:
                continue
            if isinstance(change, Profile):
                new_profiles.setdefault(cid, (change, item.event_id))
            elif cid in fetched:
                new_profiles.setdefault(cid, (fetched[cid], item.event_id))
        created = await store.insert_new_candidates(conn, [p for p, _ in new_profiles.values()])
        if created:
            await conn.cursor().executemany(
                store.INSERT_HISTORY,
                [
                    (created[cid], None, "new", "candidate created", new_profiles[cid][1])
                    for cid in sorted(created)
                ],
            )
        candidate_ids = sorted({item.event.change.portal_candidate_id for item in to_apply})  # type: ignore[union-attr]
        state = apply.BatchState(await store.lock_candidates(conn, candidate_ids))
        for cid in created:  # inserted just now with this profile: a repeat of it is not newer
            state.candidates[cid].profile_updated_at = new_profiles[cid][0].updated_at
        changes = [item.event.change for item in to_apply]  # type: ignore[union-attr]
        state.interviews = await store.lock_interviews(
            conn, sorted({c.request_id for c in changes if isinstance(c, InterviewAnswer)})
        )
        state.offers = await store.lock_offers(
            conn, sorted({c.offer_id for c in changes if isinstance(c, OfferAnswer)})
        )
        return state

    async def _fail(self, conn: psycopg.AsyncConnection[Any], item: _Item, reason: str) -> None:
        item.failure, item.outcome = reason, "failed"
        await conn.execute(store.MARK_FAILED, (reason, item.event_id))

    async def _after_commit(self, items: list[_Item], report: BatchReport) -> None:
        done = [item for item in items if not item.transient]
        for item in done:
            counter = _REPORT_COUNTERS[item.outcome]
            setattr(report, counter, getattr(report, counter) + 1)
            report.event_outcomes[item.event_id] = item.outcome
            metrics.increment("events_handled", outcome=item.outcome)
            if item.outcome == "failed":
                log.warning(
                    "event %s (%s) failed permanently: %s", item.event_id, item.event_type, item.failure
                )
        try:
            await self._processed.mark_processed(item.event_id for item in done)
        except RedisUnavailable:
            metrics.increment("redis_mark_skipped")
        if any(item.outcome == "processed" and item.event_type == "document.uploaded" for item in done):
            try:
                await outbox.flush(self._db, self._sender)
            except DependencyUnavailable:
                log.warning("outbox flush failed after commit; the outbox timer will send it")
        retry = [item.message for item in items if item.transient]
        if retry:
            to_park = await reschedule(self._sender, PORTAL_EVENTS, retry, now=self._clock())
            report.rescheduled = len(retry) - len(to_park)
            for item in items:
                if item.transient:
                    report.event_outcomes[item.event_id] = "rescheduled"
            if to_park:
                await self._park(to_park)
                report.parked = len(to_park)

    async def _park(self, messages: list[QueuedMessage]) -> None:
        reason = "transient failures for 24 hours"
        async with transaction(self._db) as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO parked_messages (queue, message_id, body, reason, attempts) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (queue, message_id) DO NOTHING",
                [
                    (
                        PORTAL_EVENTS,
                        m.message_id,
                        Jsonb(_json_or_text(m.body)),
                        reason,
                        int(m.property_str(ATTEMPT) or 1),
                    )
                    for m in messages
                ],
            )
        for message in messages:
            await self._alerter.raise_alert(
                "event_parked", PORTAL_EVENTS, f"message {message.message_id} parked: {reason}"
            )


# --- helpers -------------------------------------------------------------------------------


def _fields(errors: Sequence[Any]) -> str:
    return ", ".join(sorted({error.field for error in errors})) or "-"


def _received_at(message: QueuedMessage, now: datetime) -> datetime:
    raw = message.property_str("received_at")
    if raw:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    return message.enqueued_time or now


def _dedupe(items: list[_Item]) -> list[_Item]:
    """One item per event id: a repeat inside the batch is a duplicate of the first."""
    seen: dict[str, _Item] = {}
    for item in items:
        seen.setdefault(item.event_id, item)
    return list(seen.values())


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {"undecodable_body_bytes": len(body)}


async def _record_events(conn: psycopg.AsyncConnection[Any], items: list[_Item]) -> set[str]:
    columns: list[list[Any]] = [[], [], [], [], [], [], []]
    for item in sorted(items, key=lambda i: i.event_id):
        status = (
            "failed"
            if item.failure
            else ("ignored" if item.event is not None and item.event.change is None else "processed")
        )
        received = (
            item.event.received_at
            if item.event is not None
            else (item.message.enqueued_time or datetime.now(UTC))
        )
        values = (
            item.event_type,
            item.event_id,
            item.payload_text if item.keep_payload else "{}",
            status,
            int(item.message.property_str(ATTEMPT) or 1),
            item.failure,
            received,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    cursor = await conn.execute(store.INSERT_EVENTS, columns)
    return {row[0] for row in await cursor.fetchall()}


async def _log_activity(conn: psycopg.AsyncConnection[Any], items: list[_Item]) -> None:
    columns: list[list[Any]] = [[], [], [], []]
    for item in items:
        entity = (
            item.event.change.portal_candidate_id if item.event is not None and item.event.change else None
        )
        for column, value in zip(columns, (item.event_type, entity, item.outcome, item.failure), strict=True):
            column.append(value)
    await conn.execute(store.INSERT_ACTIVITY, columns)


def _snapshot(state: apply.BatchState, event: InboundEvent) -> tuple[Any, ...]:
    change = event.change
    cid = change.portal_candidate_id if change else None
    row = state.candidates.get(cid) if cid else None
    return (replace(row) if row else None, dict(state.interviews), dict(state.offers))


def _restore(state: apply.BatchState, event: InboundEvent, snapshot: tuple[Any, ...]) -> None:
    row, interviews, offers = snapshot
    if row is not None:
        state.candidates[row.portal_candidate_id] = row
    state.interviews, state.offers = interviews, offers
