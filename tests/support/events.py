"""Valid portal events for tests, built by hand from the contract (not by the app's code).

Each builder returns an envelope dict; ``signed(...)`` turns it into the body and headers a
portal would send, signed with the independent ``standardwebhooks`` implementation.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

_counter = itertools.count(1)
BASE_TIME = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def at(minutes: float = 0) -> str:
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def envelope(
    event_type: str, data: dict[str, Any], *, event_id: str | None = None, created: float = 0
) -> dict[str, Any]:
    return {"id": event_id or uid("evt_"), "type": event_type, "created_at": at(created), "data": data}


def candidate(cid: str | None = None, *, updated: float = 0, **overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    body: dict[str, Any] = {
        "id": cid or uid("cand_"),
        "first_name": "Ada",
        "last_name": f"Lovelace{n}",
        "email": f"ada.lovelace{n}@example.com",
        "phone": "+442071234567",
        "location": {"city": "London", "region": "England", "country": "GB"},
        "headline": "Analyst",
        "requisition_id": "REQ-2026-0042",
        "work_history": [
            {
                "company": "Analytical Engines",
                "title": "Analyst",
                "start_date": "2019-03-01",
                "end_date": "2023-06-30",
                "current": False,
            }
        ],
        "education": [{"institution": "University of London", "degree": "BSc", "field": "Mathematics"}],
        "skills": ["python", "sql"],
        "consents": {"data_processing": True, "marketing": False},
        "updated_at": at(updated),
    }
    body.update(overrides)
    return body


def profile_event(cand: dict[str, Any], *, kind: str = "candidate.created", **kw: Any) -> dict[str, Any]:
    return envelope(kind, {"candidate": cand}, **kw)


def screening_event(
    cid: str, score: str | float, recommendation: str = "advance", **kw: Any
) -> dict[str, Any]:
    return envelope(
        "screening.completed",
        {
            "screening": {
                "id": uid("scr_"),
                "candidate_id": cid,
                "requisition_id": "REQ-2026-0042",
                "model": "portal-ai-3.2",
                "score": score,
                "recommendation": recommendation,
                "competencies": [{"name": "communication", "score": 78.0}],
                "completed_at": at(1),
            }
        },
        **kw,
    )


def assessment_event(
    cid: str,
    score: float | None = 71.0,
    *,
    max_score: float | None = 100,
    assessment_type: str = "coding",
    failed: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": uid("asm_"),
        "candidate_id": cid,
        "assessment_type": assessment_type,
        "status": "failed" if failed else "completed",
        "completed_at": at(2),
    }
    if not failed:
        data["score"] = score
        if max_score is not None:
            data["max_score"] = max_score
    return envelope("assessment.failed" if failed else "assessment.completed", {"assessment": data}, **kw)


def document_event(
    cid: str,
    *,
    portal: str,
    sha256: str = "a" * 64,
    size: int = 1234,
    doc_id: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    did = doc_id or uid("doc_")
    return envelope(
        "document.uploaded",
        {
            "document": {
                "id": did,
                "candidate_id": cid,
                "kind": "resume",
                "file_name": "cv.pdf",
                "content_type": "application/pdf",
                "size_bytes": size,
                "sha256": sha256,
                "download_url": f"{portal}/v1/documents/{did}/content",
                "uploaded_at": at(3),
            }
        },
        **kw,
    )


def interview_event(
    cid: str,
    request_id: str,
    status: str = "scheduled",
    *,
    interview_id: str | None = None,
    start: float = 60 * 24,
    **kw: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": interview_id or uid("int_"),
        "request_id": request_id,
        "candidate_id": cid,
        "status": status,
    }
    if status == "scheduled":
        data.update(
            {
                "scheduled_start": at(start),
                "scheduled_end": at(start + 45),
                "timezone": "Europe/London",
                "meeting_url": "https://meet.example/abc",
            }
        )
    return envelope(f"interview.{status}", {"interview": data}, **kw)


def offer_event(cid: str, offer_id: str, status: str = "accepted", **kw: Any) -> dict[str, Any]:
    return envelope(
        f"offer.{status}",
        {
            "offer": {
                "id": uid("off_"),
                "offer_id": offer_id,
                "candidate_id": cid,
                "status": status,
                "responded_at": at(5),
            }
        },
        **kw,
    )


def withdrawn_event(cid: str, **kw: Any) -> dict[str, Any]:
    return envelope(
        "candidate.withdrawn",
        {"candidate": {"id": cid, "reason": "accepted another offer", "withdrawn_at": at(4)}},
        **kw,
    )


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def sign(secret: str, webhook_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers, made by the reference library (independent of our verifier)."""
    ts = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(ts, UTC), body.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def signed(secret: str, event: dict[str, Any], **kw: Any) -> tuple[dict[str, str], bytes]:
    body = body_of(event)
    return sign(secret, event["id"], body, **kw), body
