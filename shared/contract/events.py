"""The ``data`` of every portal event type, as frozen pydantic models that enforce the contract.

One model per event ``data`` object (``CandidateProfileData`` for ``candidate.created`` and
``candidate.updated``, ``ScreeningCompletedData`` for ``screening.completed``, …), looked up by
:data:`DATA_MODELS`. Fields the contract marks ``?`` may be absent or null; every other field
is required. Fields the ATS does not know are ignored here (the raw payload is stored
unchanged elsewhere). Rules that tie two fields together are written as validators of the
field the error should name; pydantic validates fields in declaration order and a validator
only sees the fields declared before it, which is why, for example, ``end_date`` is declared
before ``start_date`` (the contract's error names ``start_date``).

Models are validated with the portal's base URL in the context (see
:data:`~shared.contract.fields.PORTAL_BASE_URL_CONTEXT_KEY`); parsing entry points live in
:mod:`shared.contract.envelope`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.contract.fields import (
    AssessmentId,
    AtsUuid,
    CalendarDate,
    CandidateId,
    CountryCode,
    DocumentDownloadUrl,
    DocumentId,
    E164Phone,
    EmailAddress,
    FileName,
    InterviewId,
    MediaType,
    NonEmptyStr,
    Number,
    OfferId,
    Percent,
    RFC3339DateTime,
    ScreeningId,
    Sha256Hex,
    StrictBool,
    StrictNonNegativeInt,
    contract_error,
)

__all__ = [
    "DATA_MODELS",
    "IMPORTABLE_EVENT_TYPES",
    "LIST_LIMITS",
    "STATUS_BY_EVENT_TYPE",
    "Assessment",
    "AssessmentData",
    "AssessmentStatus",
    "CandidateProfile",
    "CandidateProfileData",
    "CandidateWithdrawnData",
    "Competency",
    "Consents",
    "DocumentKind",
    "DocumentUploadedData",
    "EducationEntry",
    "EventType",
    "InterviewAnswer",
    "InterviewAnswerData",
    "InterviewAnswerStatus",
    "KnownEventData",
    "Location",
    "OfferAnswer",
    "OfferAnswerData",
    "OfferAnswerStatus",
    "PortalEvent",
    "Recommendation",
    "Screening",
    "ScreeningCompletedData",
    "UnknownEvent",
    "UploadedDocument",
    "WithdrawnCandidate",
    "WorkHistoryEntry",
]

DEFAULT_MAX_SCORE: Final = Decimal(100)


class EventType(StrEnum):
    """Every event type the contract defines; any other ``type`` is an :class:`UnknownEvent`."""

    CANDIDATE_CREATED = "candidate.created"
    CANDIDATE_UPDATED = "candidate.updated"
    CANDIDATE_WITHDRAWN = "candidate.withdrawn"
    SCREENING_COMPLETED = "screening.completed"
    ASSESSMENT_COMPLETED = "assessment.completed"
    ASSESSMENT_FAILED = "assessment.failed"
    DOCUMENT_UPLOADED = "document.uploaded"
    INTERVIEW_SCHEDULED = "interview.scheduled"
    INTERVIEW_DECLINED = "interview.declined"
    INTERVIEW_CANCELLED = "interview.cancelled"
    OFFER_ACCEPTED = "offer.accepted"
    OFFER_DECLINED = "offer.declined"


#: The only types a bulk import line may carry (the contract's "Bulk profile import").
IMPORTABLE_EVENT_TYPES: Final = frozenset({EventType.CANDIDATE_CREATED, EventType.CANDIDATE_UPDATED})


class Recommendation(StrEnum):
    """The portal AI's recommendation on a screening."""

    ADVANCE = "advance"
    REVIEW = "review"
    REJECT = "reject"


class AssessmentStatus(StrEnum):
    """How a portal assessment ended: with a score, or failed without one."""

    COMPLETED = "completed"
    FAILED = "failed"


class DocumentKind(StrEnum):
    """What a candidate's uploaded file is."""

    RESUME = "resume"
    COVER_LETTER = "cover_letter"
    ID_DOCUMENT = "id_document"
    CERTIFICATE = "certificate"
    OTHER = "other"


class InterviewAnswerStatus(StrEnum):
    """The portal's answer to an ATS interview request."""

    SCHEDULED = "scheduled"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class OfferAnswerStatus(StrEnum):
    """The candidate's answer to an ATS offer."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


#: For event types whose ``data`` carries a status: (the object holding it, the status the
#: type requires). A status that disagrees with the type is a 400, checked before validation.
STATUS_BY_EVENT_TYPE: Final[Mapping[EventType, tuple[str, str]]] = MappingProxyType(
    {
        EventType.ASSESSMENT_COMPLETED: ("assessment", AssessmentStatus.COMPLETED.value),
        EventType.ASSESSMENT_FAILED: ("assessment", AssessmentStatus.FAILED.value),
        EventType.INTERVIEW_SCHEDULED: ("interview", InterviewAnswerStatus.SCHEDULED.value),
        EventType.INTERVIEW_DECLINED: ("interview", InterviewAnswerStatus.DECLINED.value),
        EventType.INTERVIEW_CANCELLED: ("interview", InterviewAnswerStatus.CANCELLED.value),
        EventType.OFFER_ACCEPTED: ("offer", OfferAnswerStatus.ACCEPTED.value),
        EventType.OFFER_DECLINED: ("offer", OfferAnswerStatus.DECLINED.value),
    }
)

#: The contract's list limits: (field name, most entries, what an entry is called in messages).
LIST_LIMITS: Final[Mapping[str, tuple[int, str]]] = MappingProxyType(
    {
        "work_history": (100, "work history entries"),
        "education": (50, "education entries"),
        "skills": (200, "skills"),
    }
)


class _ContractModel(BaseModel):
    """Frozen, ignores unknown fields (kept in the stored raw payload), no coercion surprises."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def _check_date_order(start: date | None, info: ValidationInfo) -> date | None:
    end = info.data.get("end_date")
    if start is not None and end is not None and start > end:
        raise contract_error("start_date is after end_date")
    return start


# --- candidate.created / candidate.updated ---------------------------------------------------


class Location(_ContractModel):
    city: NonEmptyStr
    region: str | None = None
    country: CountryCode


class WorkHistoryEntry(_ContractModel):
    company: NonEmptyStr
    title: NonEmptyStr
    end_date: CalendarDate | None = None  # before start_date: its validator compares with it
    start_date: CalendarDate
    current: StrictBool

    @field_validator("start_date")
    @classmethod
    def _start_not_after_end(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _check_date_order(value, info)


class EducationEntry(_ContractModel):
    institution: NonEmptyStr
    degree: str | None = None
    field: str | None = None
    end_date: CalendarDate | None = None  # before start_date: its validator compares with it
    start_date: CalendarDate | None = None

    @field_validator("start_date")
    @classmethod
    def _start_not_after_end(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _check_date_order(value, info)


class Consents(_ContractModel):
    data_processing: StrictBool
    marketing: StrictBool | None = None

    @field_validator("data_processing")
    @classmethod
    def _must_consent(cls, value: bool) -> bool:
        if value is not True:
            raise contract_error("data_processing consent must be true")
        return value


class CandidateProfile(_ContractModel):
    """The complete profile a ``candidate.created``/``candidate.updated`` carries."""

    id: CandidateId
    ats_candidate_id: AtsUuid | None = None
    first_name: NonEmptyStr
    last_name: NonEmptyStr
    email: EmailAddress
    phone: E164Phone | None = None
    location: Location | None = None
    headline: str | None = None
    linkedin_url: str | None = None
    requisition_id: NonEmptyStr
    work_history: list[WorkHistoryEntry] = Field(max_length=LIST_LIMITS["work_history"][0])
    education: list[EducationEntry] = Field(max_length=LIST_LIMITS["education"][0])
    skills: list[str] = Field(max_length=LIST_LIMITS["skills"][0])
    consents: Consents
    updated_at: RFC3339DateTime


class CandidateProfileData(_ContractModel):
    """``data`` of ``candidate.created`` and ``candidate.updated``."""

    candidate: CandidateProfile


# --- candidate.withdrawn ----------------------------------------------------------------------


class WithdrawnCandidate(_ContractModel):
    id: CandidateId
    reason: str | None = None
    withdrawn_at: RFC3339DateTime


class CandidateWithdrawnData(_ContractModel):
    """``data`` of ``candidate.withdrawn``."""

    candidate: WithdrawnCandidate


# --- screening.completed ---------------------------------------------------------------------


class Competency(_ContractModel):
    name: NonEmptyStr
    score: Percent


class Screening(_ContractModel):
    """The portal AI's screening of one candidate; ``score`` is the Decimal as sent."""

    id: ScreeningId
    candidate_id: CandidateId
    requisition_id: NonEmptyStr
    model: NonEmptyStr
    score: Percent
    recommendation: Recommendation
    competencies: list[Competency]
    summary: str | None = None
    completed_at: RFC3339DateTime


class ScreeningCompletedData(_ContractModel):
    """``data`` of ``screening.completed``."""

    screening: Screening


# --- assessment.completed / assessment.failed ------------------------------------------------


class Assessment(_ContractModel):
    """A test taken on the portal. ``max_score`` is 100 when absent or null."""

    id: AssessmentId
    candidate_id: CandidateId
    assessment_type: NonEmptyStr
    status: AssessmentStatus
    # Declared before score: the score's validator reads both.
    max_score: Number = Field(default=DEFAULT_MAX_SCORE, validate_default=True)
    score: Number | None = Field(default=None, validate_default=True)
    percentile: Percent | None = None
    report_url: str | None = None
    completed_at: RFC3339DateTime | None = None

    @field_validator("max_score", mode="before")
    @classmethod
    def _default_when_null(cls, value: object) -> object:
        return DEFAULT_MAX_SCORE if value is None else value

    @field_validator("max_score")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise contract_error("must be greater than 0")
        return value

    @field_validator("score")
    @classmethod
    def _score_matches_status(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        status = info.data.get("status")
        if status is AssessmentStatus.COMPLETED and value is None:
            raise contract_error("required when status is completed")
        if status is AssessmentStatus.FAILED and value is not None:
            raise contract_error("must be absent when status is failed")
        max_score = info.data.get("max_score")
        if value is not None and max_score is not None and not Decimal(0) <= value <= max_score:
            raise contract_error("must be between 0 and max_score")
        return value


class AssessmentData(_ContractModel):
    """``data`` of ``assessment.completed`` and ``assessment.failed``."""

    assessment: Assessment


# --- document.uploaded -----------------------------------------------------------------------


class UploadedDocument(_ContractModel):
    """A file the candidate uploaded; ``download_url`` lies under the portal's base URL."""

    id: DocumentId
    candidate_id: CandidateId
    kind: DocumentKind
    file_name: FileName
    content_type: MediaType
    size_bytes: StrictNonNegativeInt
    sha256: Sha256Hex
    download_url: DocumentDownloadUrl
    uploaded_at: RFC3339DateTime


class DocumentUploadedData(_ContractModel):
    """``data`` of ``document.uploaded``."""

    document: UploadedDocument


# --- interview.scheduled / declined / cancelled ----------------------------------------------


class InterviewAnswer(_ContractModel):
    """The portal's answer to an interview request; a scheduled one carries its times."""

    id: InterviewId
    request_id: AtsUuid
    candidate_id: CandidateId
    status: InterviewAnswerStatus
    scheduled_start: RFC3339DateTime | None = Field(default=None, validate_default=True)
    scheduled_end: RFC3339DateTime | None = Field(default=None, validate_default=True)
    timezone: str | None = None
    meeting_url: str | None = None

    @field_validator("scheduled_start")
    @classmethod
    def _start_when_scheduled(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None and info.data.get("status") is InterviewAnswerStatus.SCHEDULED:
            raise contract_error("required when status is scheduled")
        return value

    @field_validator("scheduled_end")
    @classmethod
    def _end_when_scheduled(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None and info.data.get("status") is InterviewAnswerStatus.SCHEDULED:
            raise contract_error("required when status is scheduled")
        start = info.data.get("scheduled_start")
        if value is not None and start is not None and value < start:
            raise contract_error("must not be before scheduled_start")
        return value


class InterviewAnswerData(_ContractModel):
    """``data`` of ``interview.scheduled``, ``interview.declined`` and ``interview.cancelled``."""

    interview: InterviewAnswer


# --- offer.accepted / offer.declined ---------------------------------------------------------


class OfferAnswer(_ContractModel):
    """The candidate's answer to an ATS offer (``offer_id`` is the ATS's UUID)."""

    id: OfferId
    offer_id: AtsUuid
    candidate_id: CandidateId
    status: OfferAnswerStatus
    responded_at: RFC3339DateTime
    start_date: CalendarDate | None = None


class OfferAnswerData(_ContractModel):
    """``data`` of ``offer.accepted`` and ``offer.declined``."""

    offer: OfferAnswer


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event whose ``type`` this version does not know: accepted and kept, never applied."""

    type: str


KnownEventData: TypeAlias = (
    CandidateProfileData
    | CandidateWithdrawnData
    | ScreeningCompletedData
    | AssessmentData
    | DocumentUploadedData
    | InterviewAnswerData
    | OfferAnswerData
)
#: What a parsed delivery's ``data`` is: a known event's validated data, or an unknown event.
PortalEvent: TypeAlias = KnownEventData | UnknownEvent

#: The model that validates ``data`` for each known event type.
DATA_MODELS: Final[Mapping[EventType, type[KnownEventData]]] = MappingProxyType(
    {
        EventType.CANDIDATE_CREATED: CandidateProfileData,
        EventType.CANDIDATE_UPDATED: CandidateProfileData,
        EventType.CANDIDATE_WITHDRAWN: CandidateWithdrawnData,
        EventType.SCREENING_COMPLETED: ScreeningCompletedData,
        EventType.ASSESSMENT_COMPLETED: AssessmentData,
        EventType.ASSESSMENT_FAILED: AssessmentData,
        EventType.DOCUMENT_UPLOADED: DocumentUploadedData,
        EventType.INTERVIEW_SCHEDULED: InterviewAnswerData,
        EventType.INTERVIEW_DECLINED: InterviewAnswerData,
        EventType.INTERVIEW_CANCELLED: InterviewAnswerData,
        EventType.OFFER_ACCEPTED: OfferAnswerData,
        EventType.OFFER_DECLINED: OfferAnswerData,
    }
)
