"""What one event does to the ATS, decided on the batch's locked rows: an outcome and its writes.

Pure decisions (no I/O) from :mod:`shared.rules` tables. Each change kind has one handler in
:data:`_HANDLERS`; a handler returns the event's own outcome and rows and the stage effect it
proposes. Only a processed event moves the stage: an ignored answer (one that contradicts or
repeats an earlier answer) or a failed one (about another candidate's interview or offer) has no
effect at all (DESIGN.md). Everything is computed before the batch state is touched, so an
exception half-way (a bug) leaves the state as it was and fails that event alone.

Several events about one candidate in one batch compose as they would one by one: each decision
updates the in-memory rows the next one reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from shared.contract.events import AssessmentStatus, EventType, Recommendation
from shared.inbound.changes import (
    Assessment,
    Change,
    DocumentUpload,
    InboundEvent,
    InterviewAnswer,
    OfferAnswer,
    Profile,
    Screening,
    Withdrawal,
)
from shared.inbound.store import AnswerTarget, CandidateRow
from shared.inbound.writes import (
    AssessmentRow,
    InterviewAnswerRow,
    OfferAnswerRow,
    ProfileUpdate,
    StageHistoryRow,
    StageUpdate,
    Write,
)
from shared.inbound.writes import DocumentUpload as DocumentUploadRow
from shared.outcomes import Failed, Ignored, Processed
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

#: Offer statuses that are the candidate's answer: the first one is final.
_ANSWERED = frozenset({OfferStatus.ACCEPTED.value, OfferStatus.DECLINED.value})

NOT_HELD = "candidate unknown to the ATS and its profile could not be fetched"


@dataclass(slots=True)
class BatchState:
    """The rows the batch may change, locked by the processor before any decision."""

    candidates: dict[str, CandidateRow]
    interviews: dict[UUID, AnswerTarget] = field(default_factory=dict)
    offers: dict[UUID, AnswerTarget] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Processed | Ignored | Failed
    writes: tuple[Write, ...] = ()


@dataclass(frozen=True, slots=True)
class _Own:
    """A handler's verdict: the event's own outcome, rows, proposed effect, and the state it
    leaves (applied only once the whole decision is made)."""

    outcome: Processed | Ignored | Failed
    writes: tuple[Write, ...] = ()
    effect: Effect = field(default_factory=Effect)
    remember: Callable[[], None] = lambda: None


Handler = Callable[[InboundEvent, Any, CandidateRow, BatchState, ScoringRules], _Own]


def decide(event: InboundEvent, state: BatchState, rules: ScoringRules) -> Decision:
    """The outcome of ``event`` and the rows it writes; updates ``state`` when it applies."""
    change = event.change
    assert change is not None  # events without a change are settled before deciding
    row = state.candidates.get(change.portal_candidate_id)
    if row is None:
        return Decision(Failed(NOT_HELD))
    own = _HANDLERS[type(change)](event, change, row, state, rules)
    if not isinstance(own.outcome, Processed):
        return Decision(own.outcome)
    moved = apply_effect(Stage(row.stage), own.effect)
    stage_writes: list[Write] = []
    new_stage, needs_review = row.stage, row.needs_review
    if moved.changes_anything:
        new_stage = moved.to_stage.value if moved.to_stage is not None else row.stage
        needs_review = row.needs_review or moved.set_needs_review
        if (new_stage, needs_review) != (row.stage, row.needs_review):
            stage_writes.append(StageUpdate(row.id, new_stage, needs_review))
        if moved.to_stage is not None:
            stage_writes.append(
                StageHistoryRow(row.id, row.stage, new_stage, event.event_type, event.event_id)
            )
    own.remember()
    row.stage, row.needs_review = new_stage, needs_review
    return Decision(Processed(), (*own.writes, *stage_writes))


# --- one handler per change kind ---------------------------------------------------------------


def _fixed_effect(event: InboundEvent, rules: ScoringRules) -> Effect:
    return rules.event_effects.get(EventType(event.event_type), Effect())


def _profile(
    event: InboundEvent, change: Profile, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    if row.profile_updated_at is not None and change.updated_at <= row.profile_updated_at:
        return _Own(Processed(), effect=_fixed_effect(event, rules))  # an older profile never overwrites

    def remember() -> None:
        row.profile_updated_at = change.updated_at

    update = ProfileUpdate(
        row.id,
        change.first_name,
        change.last_name,
        change.email,
        change.phone,
        change.requisition_id,
        change.document,
        change.updated_at,
    )
    return _Own(Processed(), (update,), _fixed_effect(event, rules), remember)


def _withdrawal(
    event: InboundEvent, change: Withdrawal, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    return _Own(Processed(), effect=_fixed_effect(event, rules))


def _screening(
    event: InboundEvent, change: Screening, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    band, effect = screening_effect(
        rules, recommendation=Recommendation(change.recommendation), score=change.score
    )
    written = AssessmentRow(
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
        change.details,
        event.event_id,
    )
    return _Own(Processed(), (written,), effect)


def _assessment(
    event: InboundEvent, change: Assessment, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    status = AssessmentStatus.COMPLETED if change.completed else AssessmentStatus.FAILED
    result, effect = assessment_effect(
        rules,
        status=status,
        score=change.score,
        max_score=change.max_score,
        assessment_type=change.assessment_type,
    )
    written = AssessmentRow(
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
        {**change.details, "result": result.value},
        event.event_id,
    )
    return _Own(Processed(), (written,), effect)


def _document(
    event: InboundEvent, change: DocumentUpload, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    written = DocumentUploadRow(
        row.id,
        change.portal_document_id,
        change.kind,
        change.file_name,
        change.content_type,
        change.size_bytes,
        change.sha256,
        change.download_url,
        change.uploaded_at,
        event.event_id,
    )
    return _Own(Processed(), (written,), _fixed_effect(event, rules))


def _interview(
    event: InboundEvent, change: InterviewAnswer, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    new_status = INTERVIEW_STATUS_BY_EVENT[EventType(event.event_type)]
    current = state.interviews.get(change.request_id)
    if current is not None and current.candidate_id != row.id:
        return _Own(Failed(f"interview request {change.request_id} belongs to another candidate of the ATS"))
    current_status = InterviewStatus(current.status) if current else None
    if not interview_update_applies(
        current_status, current.status_event_at if current else None, new_status, event.created_at
    ):
        assert current is not None  # with no row every answer applies
        return _Own(Ignored(_interview_refusal(current, new_status, event)))

    def remember() -> None:
        state.interviews[change.request_id] = AnswerTarget(row.id, new_status.value, event.created_at)

    written = InterviewAnswerRow(
        change.request_id,
        row.id,
        change.portal_interview_id,
        new_status.value,
        change.scheduled_start,
        change.scheduled_end,
        change.timezone,
        change.meeting_url,
        event.created_at,
    )
    return _Own(Processed(), (written,), _fixed_effect(event, rules), remember)


def _interview_refusal(current: AnswerTarget, new_status: InterviewStatus, event: InboundEvent) -> str:
    if current.status == new_status.value and current.status_event_at == event.created_at:
        return f"repeats the interview's {new_status.value} answer"
    if current.status == new_status.value:
        return (
            f"an older {new_status.value} answer (created {event.created_at.isoformat()}) than the one "
            "the interview holds"
        )
    return f"the interview is {current.status}; a {new_status.value} answer does not replace it"


def _offer(
    event: InboundEvent, change: OfferAnswer, row: CandidateRow, state: BatchState, rules: ScoringRules
) -> _Own:
    current = state.offers.get(change.offer_id)
    if current is not None and current.candidate_id != row.id:
        return _Own(Failed(f"offer {change.offer_id} belongs to another candidate of the ATS"))
    status = OFFER_STATUS_BY_EVENT[EventType(event.event_type)]
    if current is not None and current.status in _ANSWERED:
        if current.status == status.value:
            return _Own(Ignored(f"repeats the offer's {status.value} answer"))
        return _Own(
            Ignored(f"contradicts the offer's first answer ({current.status}), which is final; no effect")
        )

    def remember() -> None:
        state.offers[change.offer_id] = AnswerTarget(row.id, status.value)

    written = OfferAnswerRow(
        change.offer_id, row.id, change.portal_offer_id, status.value, change.responded_at, change.details
    )
    return _Own(Processed(), (written,), _fixed_effect(event, rules), remember)


_HANDLERS: Mapping[type[Change], Handler] = {
    Profile: _profile,
    Withdrawal: _withdrawal,
    Screening: _screening,
    Assessment: _assessment,
    DocumentUpload: _document,
    InterviewAnswer: _interview,
    OfferAnswer: _offer,
}
