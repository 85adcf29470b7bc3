"""The event processor: a batch of queued portal events into the ATS database, each exactly once.

Every message ends in one outcome (:mod:`shared.outcomes`), decided first and acted on once:

1. **Read** each message (:mod:`shared.inbound.decode`): the validated event, or an outcome it
   already has (an invalid message ``Failed``, an unknown type ``Ignored``).
2. **Fetch** from the portal the profile of each candidate an event needs but the ATS lacks.
   A candidate the portal does not know fails its events; a portal that is down makes them
   ``RetryLater``, with its ``Retry-After`` or the open breaker's remaining time.
3. **Apply**, in one transaction: record every event in ``webhook_events`` (UNIQUE ``event_id``:
   a repeat is a duplicate and does nothing), lock the rows the batch reads, decide each event
   (:mod:`shared.inbound.decide`) and send the merged statements (:mod:`shared.inbound.store`)
   pipelined with the activity log. That is the fast path. If anything in it fails other than
   the database being unreachable (PostgreSQL refusing a statement, a bug), the transaction is
   rolled back and the batch applied again **one event at a time**, each in a savepoint that
   holds every statement of that event, its record included: the event at fault is recorded
   ``failed`` with the reason (the exception's type or the SQLSTATE, never values) and the
   others apply.
4. **Settle** after commit (:meth:`EventProcessor._settle`): count, mark processed in Redis
   (the receiver's fast path), flush the outbox (document transfers), and re-send each
   ``RetryLater`` message to ``portal-events`` after its backoff; after 24 h it is parked, its
   alert raised first (so a PostgreSQL outage that made the parking necessary cannot swallow
   it), and if the parking insert fails too the message comes back later to be parked.

A database that cannot be reached makes the whole batch ``RetryLater``; the processor raises
only when even the re-send fails (then the host abandons and Service Bus redelivers).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared import metrics, outbox
from shared.alerts import AlertSink
from shared.contract.envelope import validate_envelope_object
from shared.contract.events import CandidateProfileData, EventType
from shared.db import transaction
from shared.errors import DependencyUnavailable, PortalRejected, TransientError, ValidationFailed
from shared.inbound import store
from shared.inbound.changes import InterviewAnswer, OfferAnswer, Profile
from shared.inbound.decide import BatchState, Decision, decide
from shared.inbound.decode import NO_PAYLOAD, Decoded, decode, fields_of
from shared.inbound.records import (
    WORDS,
    Duplicate,
    Result,
    activity_columns,
    record_columns,
    record_params,
    settle_columns,
    status_of,
)
from shared.inbound.transform import profile as profile_from
from shared.inbound.writes import Write
from shared.messaging import PORTAL_EVENTS, MessageSender
from shared.outcomes import Failed, Ignored, Processed, RetryLater
from shared.parked import PARK, park_parameters
from shared.portal_client import PortalClient
from shared.queued import QueuedMessage
from shared.redelivery import ATTEMPT, MAX_DELAY, reschedule
from shared.redis_store import ProcessedEvents, RedisUnavailable
from shared.rules import ScoringRules
from shared.telemetry import message_spans

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_FETCH_CONCURRENCY = 8
#: psycopg errors that say "try again", not "this statement is wrong".
_TRANSIENT = (DependencyUnavailable, psycopg.OperationalError, psycopg.InterfaceError)
PARKED_REASON = "transient failures for 24 hours"


#: The report's counter of each final result (re-sent and parked ones are counted as they go).
_REPORT_FIELD: dict[type[Result], str] = {
    Processed: "processed",
    Ignored: "ignored",
    Failed: "failed",
    Duplicate: "duplicates",
}


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
        alerter: AlertSink,
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
        # Tracing (shared/telemetry.py): one span per message in its sender's trace, ended with
        # the event's outcome; a repeat inside the batch is a duplicate of the first.
        with message_spans(PORTAL_EVENTS, messages) as spans:
            items, report = await self._process(messages)
            for item in items:
                spans.end(item.message, report.event_outcomes[item.event_id], **_span_attributes(item))
            spans.end_all("duplicate")
        return report

    async def _process(self, messages: Sequence[QueuedMessage]) -> tuple[list[Decoded], BatchReport]:
        now = self._clock()
        items = _first_of_each(decode(m, portal_base_url=self._portal_base_url, now=now) for m in messages)
        results: dict[str, Result] = {}
        try:
            known_events, known_candidates, erased = await self._lookup(items)
            items, known_events = _recovery(items, known_events, erased)
            fetched, items, waiting = await self._fetch_missing(items, known_events, known_candidates)
            results.update(waiting)
            to_apply = [item for item in items if item.event_id not in waiting]
            if to_apply:
                results.update(await self._apply(to_apply, fetched, known_candidates))
        except _TRANSIENT as exc:
            log.warning(
                "batch of %d events hit a transient failure (%s); re-sending with backoff",
                len(items),
                type(exc).__name__,
            )
            results = {
                item.event_id: RetryLater(f"database unavailable: {type(exc).__name__}") for item in items
            }
        return items, await self._settle(items, results)

    # --- 1–2: what the batch needs ---------------------------------------------------------

    async def _lookup(self, items: list[Decoded]) -> tuple[set[str], set[str], set[str]]:
        """Event ids already recorded, candidates already held, candidates erased (one round trip)."""
        candidate_ids = sorted({cid for item in items if (cid := item.portal_candidate_id)})
        async with transaction(self._db) as conn:
            cursor = await conn.execute(
                store.LOOKUP, {"events": [item.event_id for item in items], "candidates": candidate_ids}
            )
            rows = await cursor.fetchall()
        found = {kind: {v for k, v in rows if k == kind} for kind in ("e", "c", "x")}
        return found["e"], found["c"], found["x"]

    async def _fetch_missing(
        self, items: list[Decoded], known_events: set[str], known_candidates: set[str]
    ) -> tuple[dict[str, Profile], list[Decoded], dict[str, RetryLater]]:
        """Fetch the profile of every candidate an event needs but neither the ATS nor the batch
        has. Returns the profiles, the items (those whose fetch failed for good now settled
        ``Failed``) and the events that must wait for the portal."""
        in_batch = {
            item.event.change.portal_candidate_id
            for item in items
            if item.event is not None and isinstance(item.event.change, Profile)
        }
        needed = sorted(
            {
                cid
                for item in items
                if item.event is not None
                and item.event_id not in known_events
                and (cid := item.portal_candidate_id) is not None
                and cid not in known_candidates
                and cid not in in_batch
            }
        )
        if not needed:
            return {}, items, {}
        limit = asyncio.Semaphore(_FETCH_CONCURRENCY)

        async def fetch(cid: str) -> Profile | Failed | RetryLater:
            try:
                async with limit:
                    return await self._fetch_profile(cid)
            except TransientError as exc:
                return RetryLater(f"portal unavailable for the candidate profile: {exc}", exc.retry_after)
            except PortalRejected as exc:
                if exc.status_code == 404:
                    return Failed("candidate unknown to the portal (GET /v1/candidates answered 404)")
                return Failed(f"portal refused the candidate profile ({exc.status_code})")
            except ValidationFailed as exc:
                return Failed(f"candidate profile from the portal failed validation: {fields_of(exc.errors)}")
            except Exception as exc:  # a bug: these events fail, the batch goes on
                log.exception("fetching candidate %s raised %s", cid, type(exc).__name__)
                return Failed(f"{type(exc).__name__} while fetching the candidate profile")

        answers = dict(zip(needed, await asyncio.gather(*(fetch(cid) for cid in needed)), strict=True))
        fetched = {cid: answer for cid, answer in answers.items() if isinstance(answer, Profile)}
        metrics.increment("candidate_profiles_fetched", len(fetched))
        waiting: dict[str, RetryLater] = {}
        settled: list[Decoded] = []
        for item in items:
            answer = (
                answers.get(item.portal_candidate_id or "") if item.event_id not in known_events else None
            )
            if isinstance(answer, RetryLater):
                waiting[item.event_id] = answer
            elif isinstance(answer, Failed):
                item = replace(item, event=None, settled=answer)
            settled.append(item)
        return fetched, settled, waiting

    async def _fetch_profile(self, portal_candidate_id: str) -> Profile:
        candidate = await self._portal.get_candidate(portal_candidate_id)
        if candidate.get("id") != portal_candidate_id:
            raise PortalRejected("portal answered another candidate's profile", status_code=502)
        envelope: dict[str, Any] = {
            "id": "evt_fetched",
            "type": EventType.CANDIDATE_UPDATED.value,
            "created_at": self._clock().isoformat(),
            "data": {"candidate": candidate},
        }
        _, model = validate_envelope_object(envelope, portal_base_url=self._portal_base_url)
        assert isinstance(model, CandidateProfileData)
        return profile_from(model, envelope["data"])

    # --- 3: apply --------------------------------------------------------------------------

    async def _apply(
        self, items: list[Decoded], fetched: dict[str, Profile], known: set[str]
    ) -> dict[str, Result]:
        try:
            return await self._apply_batch(items, fetched, known)
        except _TRANSIENT:
            raise
        except Exception as exc:
            log.warning(
                "the batch's merged statements failed (%s %s); applying event by event",
                type(exc).__name__,
                getattr(exc, "sqlstate", "") or "",
            )
            return await self._apply_each(items, fetched, known)

    async def _apply_batch(
        self, items: list[Decoded], fetched: dict[str, Profile], known: set[str]
    ) -> dict[str, Result]:
        """The fast path: one record statement, decisions in Python, merged writes pipelined."""
        async with transaction(self._db) as conn:
            await _reopen_replays(conn, items)
            cursor = await conn.execute(store.RECORD_EVENTS, record_columns(items))
            new = {row[0] for row in await cursor.fetchall()}
            results: dict[str, Result] = {}
            for item in items:
                if item.event_id not in new:
                    results[item.event_id] = Duplicate()
                elif item.settled is not None:
                    results[item.event_id] = item.settled
            # Processing order is message order (DESIGN.md: "an offer's first answer in processing
            # order is final"), as if the messages were handled one by one.
            to_decide = [item for item in items if item.event_id not in results]
            state = await self._lock(conn, to_decide, fetched, known)
            writes: list[Write] = []
            for item in to_decide:
                decision = self._decide(item, state)
                results[item.event_id] = decision.outcome
                writes.extend(decision.writes)
            not_processed = [item for item in to_decide if not isinstance(results[item.event_id], Processed)]
            async with conn.pipeline():
                for sql, params in store.merged(writes):
                    await conn.execute(sql, params)
                if not_processed:
                    await conn.execute(store.SETTLE_EVENTS, settle_columns(not_processed, results))
                await conn.execute(store.LOG_ACTIVITY, activity_columns(items, results))
        return results

    async def _apply_each(
        self, items: list[Decoded], fetched: dict[str, Profile], known: set[str]
    ) -> dict[str, Result]:
        """The per-event path: each event's statements, its record included, in a savepoint."""
        results: dict[str, Result] = {}
        async with transaction(self._db) as conn:
            state = BatchState({})
            for item in items:
                snapshot = _snapshot(state, item)
                try:
                    async with conn.transaction():
                        results[item.event_id] = await self._apply_one(conn, item, state, fetched, known)
                except _TRANSIENT:
                    raise
                except Exception as exc:
                    _restore(state, snapshot)
                    reason = _failure_reason(exc)
                    log.warning("event %s (%s) failed alone: %s", item.event_id, item.event_type, reason)
                    results[item.event_id] = await _record_failed(conn, item, reason)
            await conn.execute(store.LOG_ACTIVITY, activity_columns(items, results))
        return results

    async def _apply_one(
        self,
        conn: psycopg.AsyncConnection[Any],
        item: Decoded,
        state: BatchState,
        fetched: dict[str, Profile],
        known: set[str],
    ) -> Result:
        await _reopen_replays(conn, [item])
        cursor = await conn.execute(store.RECORD_EVENT, record_params(item, status_of(item)))
        if await cursor.fetchone() is None:
            return Duplicate()
        if item.settled is not None:
            return item.settled
        more = await self._lock(conn, [item], fetched, known | set(state.candidates))
        state.candidates.update(more.candidates)
        state.interviews.update(more.interviews)
        state.offers.update(more.offers)
        decision = self._decide(item, state)
        for sql, params in store.one_by_one(decision.writes):
            await conn.execute(sql, params)
        if not isinstance(decision.outcome, Processed):
            await conn.execute(store.SETTLE_EVENTS, settle_columns([item], {item.event_id: decision.outcome}))
        return decision.outcome

    def _decide(self, item: Decoded, state: BatchState) -> Decision:
        assert item.event is not None
        try:
            return decide(item.event, state, self._rules)
        except Exception as exc:  # a bug in a rule: this event fails, the batch goes on
            log.exception("deciding event %s raised %s", item.event_id, type(exc).__name__)
            return Decision(Failed(f"{type(exc).__name__} while deciding the event's effect"))

    async def _lock(
        self,
        conn: psycopg.AsyncConnection[Any],
        items: list[Decoded],
        fetched: dict[str, Profile],
        known: set[str],
    ) -> BatchState:
        """Create the candidates the events need (from their profile or the fetched one) and lock
        every row the decisions read, in a fixed order."""
        new_profiles: dict[str, tuple[Profile, str]] = {}
        for item in items:
            assert item.event is not None
            assert item.event.change is not None
            change, cid = item.event.change, item.event.change.portal_candidate_id
            if cid in known:
                continue
            if isinstance(change, Profile):
                new_profiles.setdefault(cid, (change, item.event_id))
            elif cid in fetched:
                new_profiles.setdefault(cid, (fetched[cid], item.event_id))
        created = await store.insert_new_candidates(conn, [p for p, _ in new_profiles.values()])
        if created:
            await conn.cursor().executemany(
                store.STAGE_HISTORY.one,
                [
                    {
                        "candidate_id": created[cid],
                        "from_stage": None,
                        "to_stage": "new",
                        "reason": "candidate created",
                        "source_event_id": new_profiles[cid][1],
                    }
                    for cid in sorted(created)
                ],
            )
        changes = [item.event.change for item in items if item.event is not None and item.event.change]
        state = BatchState(
            await store.lock_candidates(conn, sorted({c.portal_candidate_id for c in changes}))
        )
        for cid in created:  # inserted just now with this profile: a repeat of it is not newer
            state.candidates[cid].profile_updated_at = new_profiles[cid][0].updated_at
        state.interviews = await store.lock_interviews(
            conn, sorted({c.request_id for c in changes if isinstance(c, InterviewAnswer)})
        )
        state.offers = await store.lock_offers(
            conn, sorted({c.offer_id for c in changes if isinstance(c, OfferAnswer)})
        )
        return state

    # --- 4: settle -------------------------------------------------------------------------

    async def _settle(self, items: list[Decoded], results: dict[str, Result]) -> BatchReport:
        report = BatchReport()
        retry: dict[float | None, list[QueuedMessage]] = defaultdict(list)
        for item in items:
            result = results[item.event_id]
            word = WORDS[type(result)]
            report.event_outcomes[item.event_id] = word
            metrics.increment("events_handled", outcome=word)
            if isinstance(result, RetryLater):
                retry[result.not_before].append(item.message)
                continue
            counter = _REPORT_FIELD[type(result)]
            setattr(report, counter, getattr(report, counter) + 1)
            if isinstance(result, Failed):
                log.warning("event %s (%s) failed: %s", item.event_id, item.event_type, result.reason)
            elif isinstance(result, Ignored):
                log.info("event %s (%s) ignored: %s", item.event_id, item.event_type, result.reason)
        done = [item.event_id for item in items if not isinstance(results[item.event_id], RetryLater)]
        try:
            await self._processed.mark_processed(done)
        except RedisUnavailable:
            metrics.increment("redis_mark_skipped")
        if any(
            isinstance(results[item.event_id], Processed) and item.event_type == EventType.DOCUMENT_UPLOADED
            for item in items
        ):
            try:
                await outbox.flush(self._db, self._sender)
            except DependencyUnavailable:
                log.warning("outbox flush failed after commit; the outbox timer will send it")
        now = self._clock()
        for not_before, messages in retry.items():
            to_park = await reschedule(self._sender, PORTAL_EVENTS, messages, now=now, not_before=not_before)
            report.rescheduled += len(messages) - len(to_park)
            if to_park:
                report.parked += await self._park(to_park, now)
        return report

    async def _park(self, messages: list[QueuedMessage], now: datetime) -> int:
        """Park messages that failed transiently for 24 h: the alert first, then the row. If the
        row cannot be written (the database that made them fail is still down), they are sent
        back for later, never dropped. Returns how many were parked."""
        for message in messages:
            await self._alerter.raise_alert(
                "event_parked", PORTAL_EVENTS, f"message {message.message_id} parked: {PARKED_REASON}"
            )
        try:
            async with transaction(self._db) as conn:
                for message in messages:
                    await _park_one(conn, message)
        except DependencyUnavailable:
            log.error("could not park %d messages (database unavailable); re-sending them", len(messages))
            await reschedule(
                self._sender,
                PORTAL_EVENTS,
                messages,
                now=now,
                not_before=MAX_DELAY.total_seconds(),
                park_after=None,
            )
            return 0
        return len(messages)


# --- helpers ---------------------------------------------------------------------------------


def _first_of_each(decoded: Iterable[Decoded]) -> list[Decoded]:
    """One item per event id: a repeat inside the batch is a duplicate of the first."""
    seen: dict[str, Decoded] = {}
    for item in decoded:
        seen.setdefault(item.event_id, item)
    return list(seen.values())


def _span_attributes(item: Decoded) -> dict[str, str]:
    """What the message's span carries: the event, and the ATS request or offer it answers."""
    attributes = {"portal.event_id": item.event_id, "portal.event_type": item.event_type}
    change = item.event.change if item.event is not None else None
    if isinstance(change, InterviewAnswer):
        attributes["ats.request_id"] = str(change.request_id)
    elif isinstance(change, OfferAnswer):
        attributes["ats.offer_id"] = str(change.offer_id)
    return attributes


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, psycopg.Error) and exc.sqlstate:
        return f"PostgreSQL refused the event's effect (SQLSTATE {exc.sqlstate})"
    return f"{type(exc).__name__} while applying the event"


async def _record_failed(conn: psycopg.AsyncConnection[Any], item: Decoded, reason: str) -> Failed:
    """Record an event that failed alone, with its payload when PostgreSQL will store it."""
    try:
        async with conn.transaction():
            await _reopen_replays(conn, [item])  # a failed replay replaces the earlier failure
            await conn.execute(store.RECORD_EVENT, record_params(item, "failed", reason=reason))
    except _TRANSIENT:
        raise
    except psycopg.Error:
        reason = f"{reason}; payload not storable"
        async with conn.transaction():
            await conn.execute(
                store.RECORD_EVENT, record_params(item, "failed", payload=NO_PAYLOAD, reason=reason)
            )
    return Failed(reason)


# --- operator recovery: replays and erased candidates (docs/operations.md, "Recovery") --------
#
# `python -m ops events replay` re-queues a failed event as `{event_id}:replay{n}` with the
# application property REPLAY: its failed record is then removed in the transaction that records
# the event again (store.REOPEN_FAILED), so the three idempotency layers let it apply once more;
# an event recorded otherwise (processed, ignored) stays a duplicate. An event about a candidate
# erased at their request (`python -m ops candidates erase`) is ignored, its payload not stored.

#: Application property of a replayed message (its replay number).
REPLAY = "replay"
ERASED = "erased"


def _is_replay(item: Decoded) -> bool:
    return item.message.property_str(REPLAY) is not None


def _recovery(
    items: list[Decoded], known_events: set[str], erased: set[str]
) -> tuple[list[Decoded], set[str]]:
    """Settle events about erased candidates; treat replays as not yet recorded (so a profile the
    replayed event needs is fetched as for a new one)."""
    settled = [
        replace(item, event=None, settled=Ignored(ERASED), payload=NO_PAYLOAD)
        if item.portal_candidate_id in erased
        else item
        for item in items
    ]
    return settled, known_events - {item.event_id for item in settled if _is_replay(item)}


async def _reopen_replays(conn: psycopg.AsyncConnection[Any], items: list[Decoded]) -> None:
    replays = [item.event_id for item in items if _is_replay(item)]
    if replays:
        cursor = await conn.execute(store.REOPEN_FAILED, (replays,))
        if reopened := [row[0] for row in await cursor.fetchall()]:
            log.info("replaying %d failed event(s): %s", len(reopened), ", ".join(reopened))


def _snapshot(state: BatchState, item: Decoded) -> tuple[Any, ...]:
    cid = item.portal_candidate_id
    row = state.candidates.get(cid) if cid else None
    return (cid, replace(row) if row else None, dict(state.interviews), dict(state.offers))


def _restore(state: BatchState, snapshot: tuple[Any, ...]) -> None:
    cid, row, interviews, offers = snapshot
    if row is not None:
        state.candidates[cid] = row
    elif cid is not None:
        state.candidates.pop(cid, None)
    state.interviews, state.offers = interviews, offers


async def _park_one(conn: psycopg.AsyncConnection[Any], message: QueuedMessage) -> None:
    """Keep the body as sent when PostgreSQL stores it, else its bytes in base64 (never lost)."""
    attempts = int(message.property_str(ATTEMPT) or 1)
    try:
        async with conn.transaction():
            await conn.execute(
                PARK, park_parameters(PORTAL_EVENTS, message, PARKED_REASON, attempts, as_base64=False)
            )
    except _TRANSIENT:
        raise
    except (psycopg.Error, UnicodeDecodeError):
        async with conn.transaction():
            await conn.execute(
                PARK, park_parameters(PORTAL_EVENTS, message, PARKED_REASON, attempts, as_base64=True)
            )
