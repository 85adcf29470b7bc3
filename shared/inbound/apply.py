"""Decide what each event changes, against the batch's locked rows, as a list of statements.

Decisions are made in Python from :mod:`shared.rules` tables on rows locked for the batch
(``FOR UPDATE``), and the in-memory rows are updated as each event is applied, so several events
about one candidate in one batch compose exactly as they would one by one. Nothing here does
I/O: the processor runs the statements (pipelined, or one savepoint per event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from shared.contract.events import AssessmentStatus, EventType, Recommendation
from shared.inbound import store
from shared.inbound.changes import (
    Assessment,
    DocumentUpload,
    InboundEvent,
    InterviewAnswer,
    OfferAnswer,
    Profile,
    Screening,
    Withdrawal,
)
from shared.rules import (
    INTERVIEW_STATUS_BY_EVENT,
    OFFER_STATUS_BY_EVENT,
    SCREENING_ASSESSMENT_TYPE,
    Effect,
    InterviewStatus,
    OfferStatus,
    ScoringRules,
    Stage,
    apply_effect,
    assessment_effect,
    interview_update_applies,
    screening_effect,
)

Statement = tuple[str, tuple[Any, ...] | dict[str, Any]]

#: Offer statuses an answer no longer changes (the candidate already answered).
_ANSWERED = frozenset({OfferStatus.ACCEPTED.value, OfferStatus.DECLINED.value})


@dataclass(slots=True)
class BatchState:
    """The rows the batch may change, locked by the processor before any decision."""

    candidates: dict[str, store.CandidateRow]
    interviews: dict[UUID, tuple[str, datetime | None]] = field(default_factory=dict)
    offers: dict[UUID, str] = field(default_factory=dict)


class UnknownCandidate(LookupError):
    """The event's candidate is neither held nor fetchable: the event cannot apply."""


def decide(event: InboundEvent, state: BatchState, rules: ScoringRules) -> list[Statement]:
    """The statements that apply ``event``; mutates ``state`` to reflect them."""
    change = event.change
    if change is None:
        return []
    row = state.candidates.get(change.portal_candidate_id)
    if row is None:
        raise UnknownCandidate(change.portal_candidate_id)
    event_type = EventType(event.event_type)
    statements: list[Statement] = []
    effect: Effect = rules.event_effects.get(event_type, Effect())

    if isinstance(change, Profile):
        if row.profile_updated_at is None or change.updated_at > row.profile_updated_at:
            statements.append(
                (
                    store.UPDATE_PROFILE,
                    (
                        change.first_name,
                        change.last_name,
                        change.email,
                        change.phone,
                        change.requisition_id,
                        Jsonb(change.document),
                        change.updated_at,
                        row.id,
                    ),
                )
            )
            row.profile_updated_at = change.updated_at
    elif isinstance(change, Withdrawal):
        pass  # the effect table moves the stage
    elif isinstance(change, Screening):
        band, effect = screening_effect(
            rules, recommendation=Recommendation(change.recommendation), score=change.score
        )
        statements.append(
            (
                store.INSERT_ASSESSMENT,
                (
                    row.id,
                    SCREENING_ASSESSMENT_TYPE,
                    "completed",
                    change.score,
                    None,
                    None,
                    change.portal_screening_id,
                    change.completed_at,
                    band.value,
                    change.recommendation,
                    Jsonb(change.details),
                    event.event_id,
                ),
            )
        )
    elif isinstance(change, Assessment):
        status = AssessmentStatus.COMPLETED if change.completed else AssessmentStatus.FAILED
        result, effect = assessment_effect(
            rules,
            status=status,
            score=change.score,
            max_score=change.max_score,
            assessment_type=change.assessment_type,
        )
        statements.append(
            (
                store.INSERT_ASSESSMENT,
                (
                    row.id,
                    change.assessment_type,
                    status.value,
                    change.score,
                    change.max_score,
                    None if change.score is None else result.value == "passed",
                    change.portal_assessment_id,
                    change.completed_at,
                    None,
                    None,
                    Jsonb({**change.details, "result": result.value}),
                    event.event_id,
                ),
            )
        )
    elif isinstance(change, DocumentUpload):
        statements.append(
            (
                store.UPSERT_DOCUMENT,
                {
                    "candidate_id": row.id,
                    "portal_document_id": change.portal_document_id,
                    "kind": change.kind,
                    "file_name": change.file_name,
                    "content_type": change.content_type,
                    "size_bytes": change.size_bytes,
                    "sha256": change.sha256,
                    "download_url": change.download_url,
                    "uploaded_at": change.uploaded_at,
                    "event_id": event.event_id,
                },
            )
        )
    elif isinstance(change, InterviewAnswer):
        statements.extend(_interview(event, change, row.id, state))
    elif isinstance(change, OfferAnswer):
        statements.extend(_offer(event_type, change, row.id, state))

    outcome = apply_effect(Stage(row.stage), effect)
    if outcome.changes_anything:
        new_stage = outcome.to_stage.value if outcome.to_stage is not None else row.stage
        needs_review = row.needs_review or outcome.set_needs_review
        if new_stage != row.stage or needs_review != row.needs_review:
            statements.append((store.UPDATE_STAGE, (new_stage, needs_review, row.id)))
        if outcome.to_stage is not None:
            statements.append(
                (store.INSERT_HISTORY, (row.id, row.stage, new_stage, event.event_type, event.event_id))
            )
        row.stage, row.needs_review = new_stage, needs_review
    return statements


def _interview(
    event: InboundEvent, change: InterviewAnswer, candidate_id: UUID, state: BatchState
) -> list[Statement]:
    new_status = INTERVIEW_STATUS_BY_EVENT[EventType(event.event_type)]
    current = state.interviews.get(change.request_id)
    current_status = InterviewStatus(current[0]) if current else None
    if not interview_update_applies(
        current_status, current[1] if current else None, new_status, event.created_at
    ):
        return []
    state.interviews[change.request_id] = (new_status.value, event.created_at)
    return [
        (
            store.UPSERT_INTERVIEW,
            (
                change.request_id,
                candidate_id,
                change.portal_interview_id,
                new_status.value,
                change.scheduled_start,
                change.scheduled_end,
                change.timezone,
                change.meeting_url,
                event.created_at,
            ),
        )
    ]


def _offer(
    event_type: EventType, change: OfferAnswer, candidate_id: UUID, state: BatchState
) -> list[Statement]:
    if state.offers.get(change.offer_id) in _ANSWERED:
        return []  # the first answer stands; a repeat or contradiction is kept only in webhook_events
    status = OFFER_STATUS_BY_EVENT[event_type]
    state.offers[change.offer_id] = status.value
    return [
        (
            store.UPSERT_OFFER,
            (
                change.offer_id,
                candidate_id,
                change.portal_offer_id,
                status.value,
                change.responded_at,
                Jsonb(change.details),
            ),
        )
    ]
