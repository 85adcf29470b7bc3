"""Portal event → ATS change: the one place that reads the portal's field names.

Input has already passed :mod:`shared.contract` validation, so shapes are guaranteed; this maps
them onto :mod:`shared.inbound.changes`. Scores stay :class:`~decimal.Decimal` as sent (the
JSON is parsed with ``parse_float=Decimal``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

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


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _optional_time(value: Any) -> datetime | None:
    return None if value in (None, "") else _time(value)


def profile(data: Mapping[str, Any]) -> Profile:
    c = data["candidate"]
    return Profile(
        portal_candidate_id=c["id"],
        first_name=c["first_name"],
        last_name=c["last_name"],
        email=c["email"],
        phone=c.get("phone"),
        requisition_id=c["requisition_id"],
        updated_at=_time(c["updated_at"]),
        document=dict(c),
        ats_candidate_id=UUID(c["ats_candidate_id"]) if c.get("ats_candidate_id") else None,
    )


def _withdrawal(data: Mapping[str, Any]) -> Withdrawal:
    c = data["candidate"]
    return Withdrawal(c["id"], _time(c["withdrawn_at"]), c.get("reason"))


def _screening(data: Mapping[str, Any]) -> Screening:
    s = data["screening"]
    details = {
        k: v
        for k, v in s.items()
        if k not in {"id", "candidate_id", "score", "recommendation", "completed_at"}
    }
    return Screening(
        s["candidate_id"],
        s["id"],
        Decimal(str(s["score"])),
        s["recommendation"],
        _time(s["completed_at"]),
        details,
    )


def _assessment(data: Mapping[str, Any]) -> Assessment:
    a = data["assessment"]
    score = a.get("score")
    max_score = a.get("max_score")
    details = {k: v for k, v in a.items() if k in {"percentile", "report_url"} and v is not None}
    return Assessment(
        portal_candidate_id=a["candidate_id"],
        portal_assessment_id=a["id"],
        assessment_type=a["assessment_type"],
        completed=a["status"] == "completed",
        score=None if score is None else Decimal(str(score)),
        max_score=Decimal(100) if max_score is None else Decimal(str(max_score)),
        completed_at=_optional_time(a.get("completed_at")),
        details=details,
    )


def _document(data: Mapping[str, Any]) -> DocumentUpload:
    d = data["document"]
    return DocumentUpload(
        portal_candidate_id=d["candidate_id"],
        portal_document_id=d["id"],
        kind=d["kind"],
        file_name=d["file_name"],
        content_type=d["content_type"],
        size_bytes=int(d["size_bytes"]),
        sha256=d["sha256"],
        download_url=d["download_url"],
        uploaded_at=_optional_time(d.get("uploaded_at")),
    )


def _interview(data: Mapping[str, Any]) -> InterviewAnswer:
    i = data["interview"]
    return InterviewAnswer(
        portal_candidate_id=i["candidate_id"],
        request_id=UUID(i["request_id"]),
        portal_interview_id=i["id"],
        status=i["status"],
        scheduled_start=_optional_time(i.get("scheduled_start")),
        scheduled_end=_optional_time(i.get("scheduled_end")),
        timezone=i.get("timezone"),
        meeting_url=i.get("meeting_url"),
    )


def _offer(data: Mapping[str, Any]) -> OfferAnswer:
    o = data["offer"]
    details = {k: v for k, v in o.items() if k == "start_date" and v is not None}
    return OfferAnswer(
        o["candidate_id"], UUID(o["offer_id"]), o["id"], o["status"], _time(o["responded_at"]), details
    )


#: Event type → its transform. An event type missing here is stored as ``ignored``.
TRANSFORMS: Mapping[str, Callable[[Mapping[str, Any]], Change]] = {
    "candidate.created": profile,
    "candidate.updated": profile,
    "candidate.withdrawn": _withdrawal,
    "screening.completed": _screening,
    "assessment.completed": _assessment,
    "assessment.failed": _assessment,
    "document.uploaded": _document,
    "interview.scheduled": _interview,
    "interview.declined": _interview,
    "interview.cancelled": _interview,
    "offer.accepted": _offer,
    "offer.declined": _offer,
}


def to_change(event_type: str, data: Mapping[str, Any]) -> Change | None:
    transform = TRANSFORMS.get(event_type)
    return None if transform is None else transform(data)
