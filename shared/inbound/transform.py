"""Portal event → ATS change, from the validated models: the one place that reads the portal's shapes.

Input is what :mod:`shared.contract` validated (times aware ``datetime``, scores ``Decimal`` as
sent, ids checked), so nothing here parses text again: a value the validator accepted is a
value the transform can map. The only raw JSON kept is the profile as sent (its unknown fields
included), stored as the candidate's ``profile`` document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.contract.events import (
    AssessmentData,
    CandidateProfileData,
    CandidateWithdrawnData,
    DocumentUploadedData,
    EventType,
    InterviewAnswerData,
    KnownEventData,
    OfferAnswerData,
    ScreeningCompletedData,
)
from shared.inbound.changes import (
    Assessment,
    Change,
    DocumentUpload,
    InterviewAnswer,
    OfferAnswer,
    Profile,
    Screening,
    Withdrawal,
)

#: Screening fields the ATS keeps in ``portal_assessments.details`` (the rest have columns).
_SCREENING_DETAILS = frozenset({"requisition_id", "model", "competencies", "summary"})


def profile(model: CandidateProfileData, raw: Mapping[str, Any]) -> Profile:
    c = model.candidate
    return Profile(
        portal_candidate_id=c.id,
        first_name=c.first_name,
        last_name=c.last_name,
        email=c.email,
        phone=c.phone,
        requisition_id=c.requisition_id,
        updated_at=c.updated_at,
        document=dict(raw["candidate"]),
        ats_candidate_id=c.ats_candidate_id,
    )


def _withdrawal(model: CandidateWithdrawnData, raw: Mapping[str, Any]) -> Withdrawal:
    c = model.candidate
    return Withdrawal(c.id, c.withdrawn_at, c.reason)


def _screening(model: ScreeningCompletedData, raw: Mapping[str, Any]) -> Screening:
    s = model.screening
    details = s.model_dump(include=set(_SCREENING_DETAILS), exclude_none=True)
    return Screening(s.candidate_id, s.id, s.score, s.recommendation.value, s.completed_at, details)


def _assessment(model: AssessmentData, raw: Mapping[str, Any]) -> Assessment:
    a = model.assessment
    details = a.model_dump(include={"percentile", "report_url"}, exclude_none=True)
    return Assessment(
        portal_candidate_id=a.candidate_id,
        portal_assessment_id=a.id,
        assessment_type=a.assessment_type,
        completed=a.status.value == "completed",
        score=a.score,
        max_score=a.max_score,
        completed_at=a.completed_at,
        details=details,
    )


def _document(model: DocumentUploadedData, raw: Mapping[str, Any]) -> DocumentUpload:
    d = model.document
    return DocumentUpload(
        portal_candidate_id=d.candidate_id,
        portal_document_id=d.id,
        kind=d.kind.value,
        file_name=d.file_name,
        content_type=d.content_type,
        size_bytes=d.size_bytes,
        sha256=d.sha256,
        download_url=d.download_url,
        uploaded_at=d.uploaded_at,
    )


def _interview(model: InterviewAnswerData, raw: Mapping[str, Any]) -> InterviewAnswer:
    i = model.interview
    return InterviewAnswer(
        portal_candidate_id=i.candidate_id,
        request_id=i.request_id,
        portal_interview_id=i.id,
        status=i.status.value,
        scheduled_start=i.scheduled_start,
        scheduled_end=i.scheduled_end,
        timezone=i.timezone,
        meeting_url=i.meeting_url,
    )


def _offer(model: OfferAnswerData, raw: Mapping[str, Any]) -> OfferAnswer:
    o = model.offer
    details = {"start_date": o.start_date.isoformat()} if o.start_date is not None else {}
    return OfferAnswer(o.candidate_id, o.offer_id, o.id, o.status.value, o.responded_at, details)


#: Event type → its transform; every known event type has one.
TRANSFORMS: Mapping[EventType, Callable[[Any, Mapping[str, Any]], Change]] = {
    EventType.CANDIDATE_CREATED: profile,
    EventType.CANDIDATE_UPDATED: profile,
    EventType.CANDIDATE_WITHDRAWN: _withdrawal,
    EventType.SCREENING_COMPLETED: _screening,
    EventType.ASSESSMENT_COMPLETED: _assessment,
    EventType.ASSESSMENT_FAILED: _assessment,
    EventType.DOCUMENT_UPLOADED: _document,
    EventType.INTERVIEW_SCHEDULED: _interview,
    EventType.INTERVIEW_DECLINED: _interview,
    EventType.INTERVIEW_CANCELLED: _interview,
    EventType.OFFER_ACCEPTED: _offer,
    EventType.OFFER_DECLINED: _offer,
}


def to_change(event_type: EventType, model: KnownEventData, raw_data: Mapping[str, Any]) -> Change:
    """The ATS change a validated event stands for (``raw_data``: its ``data`` as decoded)."""
    return TRANSFORMS[event_type](model, raw_data)
