"""The rows an inbound event writes, as typed values: what the decisions produce, what the store runs.

Each class is one named statement of :mod:`shared.inbound.store` and its fields are that
statement's parameters, in the order of its columns. Decisions (:mod:`shared.inbound.decide`)
never see SQL; the store never sees an event. Adding a column is one field here and the column
in the statement's two SQL forms; adding an effect is one class here and one entry in
``store.STATEMENTS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """A newer profile replaces the candidate's stored one (older ones never write)."""

    candidate_id: UUID
    first_name: str
    last_name: str
    email: str
    phone: str | None
    requisition_id: str
    profile: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StageUpdate:
    """The candidate's stage and review flag, as decided on the locked row (absolute values)."""

    candidate_id: UUID
    stage: str
    needs_review: bool


@dataclass(frozen=True, slots=True)
class StageHistoryRow:
    candidate_id: UUID
    from_stage: str | None
    to_stage: str
    reason: str
    source_event_id: str


@dataclass(frozen=True, slots=True)
class AssessmentRow:
    """An AI screening or an assessment; a repeat of its portal id is a no-op."""

    candidate_id: UUID
    assessment_type: str
    status: str
    score: Decimal | None
    max_score: Decimal | None
    passed: bool | None
    portal_assessment_id: str
    completed_at: datetime | None
    band: str | None
    recommendation: str | None
    details: dict[str, Any]
    source_event_id: str


@dataclass(frozen=True, slots=True)
class DocumentUpload:
    """A document row (a new file under a held id starts over) and its transfer, in the outbox."""

    candidate_id: UUID
    portal_document_id: str
    kind: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    download_url: str
    uploaded_at: datetime | None
    source_event_id: str


@dataclass(frozen=True, slots=True)
class InterviewAnswerRow:
    """The portal's answer on the ATS's interview request (the row is created if absent)."""

    id: UUID
    candidate_id: UUID
    portal_interview_id: str
    status: str
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    timezone: str | None
    meeting_url: str | None
    status_event_at: datetime


@dataclass(frozen=True, slots=True)
class OfferAnswerRow:
    """The candidate's answer on the ATS's offer (the row is created if absent)."""

    id: UUID
    candidate_id: UUID
    portal_offer_id: str
    status: str
    responded_at: datetime
    details: dict[str, Any]


Write = (
    ProfileUpdate
    | StageUpdate
    | StageHistoryRow
    | AssessmentRow
    | DocumentUpload
    | InterviewAnswerRow
    | OfferAnswerRow
)
