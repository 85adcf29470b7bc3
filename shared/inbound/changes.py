"""What a portal event means for the ATS, as plain values (the transform's output).

The processor applies these; it never reads the portal's JSON itself. Each class is one row of
DESIGN.md's stage and score table, holding exactly what the ATS stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Profile:
    """``candidate.created`` / ``candidate.updated``: the complete profile."""

    portal_candidate_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    requisition_id: str
    updated_at: datetime
    document: dict[str, Any]  # the whole candidate object as sent, kept in ``candidates.profile``
    ats_candidate_id: UUID | None = None  # the ATS's own id, when the ATS created the candidate


@dataclass(frozen=True, slots=True)
class Withdrawal:
    portal_candidate_id: str
    withdrawn_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class Screening:
    portal_candidate_id: str
    portal_screening_id: str
    score: Decimal
    recommendation: str
    completed_at: datetime
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Assessment:
    portal_candidate_id: str
    portal_assessment_id: str
    assessment_type: str
    completed: bool
    score: Decimal | None
    max_score: Decimal
    completed_at: datetime | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DocumentUpload:
    portal_candidate_id: str
    portal_document_id: str
    kind: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    download_url: str
    uploaded_at: datetime | None


@dataclass(frozen=True, slots=True)
class InterviewAnswer:
    portal_candidate_id: str
    request_id: UUID
    portal_interview_id: str
    status: str  # scheduled, declined, cancelled
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    timezone: str | None
    meeting_url: str | None


@dataclass(frozen=True, slots=True)
class OfferAnswer:
    portal_candidate_id: str
    offer_id: UUID
    portal_offer_id: str
    status: str  # accepted, declined
    responded_at: datetime
    details: dict[str, Any]


Change = Profile | Withdrawal | Screening | Assessment | DocumentUpload | InterviewAnswer | OfferAnswer


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One event off the queue: its envelope and what it means (``change`` None: unknown type)."""

    event_id: str
    event_type: str
    created_at: datetime
    received_at: datetime
    payload: dict[str, Any]
    change: Change | None
