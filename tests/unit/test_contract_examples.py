"""Valid examples of every portal event, as the contract writes them (shared by the contract tests)."""

from __future__ import annotations

import copy
import json
from typing import Any

BASE_URL = "https://api.portal.example"
REQUEST_ID = "6f1e2c1a-7c1e-4b7a-9a7e-3c6b1a0e0f11"
OFFER_UUID = "0b8f3a52-2d7e-4c55-b1a4-8a3d0c6e9f21"
SHA = "a" * 64

PROFILE: dict[str, Any] = {
    "id": "cand_2kQ9xY",
    "ats_candidate_id": "3d0b6c1e-52a4-4f0e-9d61-0c3e8b7a9f10",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+442071234567",
    "location": {"city": "London", "region": "England", "country": "GB"},
    "headline": "Analyst",
    "linkedin_url": "https://www.linkedin.com/in/ada",
    "requisition_id": "REQ-2026-0042",
    "work_history": [
        {
            "company": "Acme",
            "title": "Analyst",
            "start_date": "2019-03-01",
            "end_date": "2023-06-30",
            "current": False,
        }
    ],
    "education": [
        {
            "institution": "UCL",
            "degree": "BSc",
            "field": "Mathematics",
            "start_date": "2015-09-01",
            "end_date": "2018-06-30",
        }
    ],
    "skills": ["python", "sql"],
    "consents": {"data_processing": True, "marketing": False},
    "updated_at": "2026-11-28T09:59:00Z",
}

DATA: dict[str, dict[str, Any]] = {
    "candidate.created": {"candidate": PROFILE},
    "candidate.updated": {"candidate": PROFILE},
    "candidate.withdrawn": {
        "candidate": {
            "id": "cand_2kQ9xY",
            "reason": "accepted another offer",
            "withdrawn_at": "2026-11-28T10:00:00Z",
        }
    },
    "screening.completed": {
        "screening": {
            "id": "scr_1",
            "candidate_id": "cand_2kQ9xY",
            "requisition_id": "REQ-2026-0042",
            "model": "portal-ai-3.2",
            "score": 82.5,
            "recommendation": "advance",
            "competencies": [{"name": "communication", "score": 78.0}],
            "summary": "Strong analytical background.",
            "completed_at": "2026-11-28T10:00:00+01:00",
        }
    },
    "assessment.completed": {
        "assessment": {
            "id": "asm_1",
            "candidate_id": "cand_2kQ9xY",
            "assessment_type": "coding",
            "status": "completed",
            "score": 71.0,
            "max_score": 100,
            "percentile": 64,
            "report_url": "https://portal.example/reports/asm_1",
            "completed_at": "2026-11-28T10:00:00Z",
        }
    },
    "assessment.failed": {
        "assessment": {
            "id": "asm_2",
            "candidate_id": "cand_2kQ9xY",
            "assessment_type": "coding",
            "status": "failed",
        }
    },
    "document.uploaded": {
        "document": {
            "id": "doc_1",
            "candidate_id": "cand_2kQ9xY",
            "kind": "resume",
            "file_name": "cv.pdf",
            "content_type": "application/pdf",
            "size_bytes": 183204,
            "sha256": SHA,
            "download_url": f"{BASE_URL}/v1/documents/doc_1/content",
            "uploaded_at": "2026-11-28T10:00:00Z",
        }
    },
    "interview.scheduled": {
        "interview": {
            "id": "int_1",
            "request_id": REQUEST_ID,
            "candidate_id": "cand_2kQ9xY",
            "status": "scheduled",
            "scheduled_start": "2026-12-01T10:00:00Z",
            "scheduled_end": "2026-12-01T10:45:00Z",
            "timezone": "Europe/London",
            "meeting_url": "https://meet.portal.example/int_1",
        }
    },
    "interview.declined": {
        "interview": {
            "id": "int_1",
            "request_id": REQUEST_ID,
            "candidate_id": "cand_2kQ9xY",
            "status": "declined",
        }
    },
    "interview.cancelled": {
        "interview": {
            "id": "int_1",
            "request_id": REQUEST_ID,
            "candidate_id": "cand_2kQ9xY",
            "status": "cancelled",
        }
    },
    "offer.accepted": {
        "offer": {
            "id": "off_1",
            "offer_id": OFFER_UUID,
            "candidate_id": "cand_2kQ9xY",
            "status": "accepted",
            "responded_at": "2026-11-28T10:00:00-05:00",
            "start_date": "2027-01-04",
        }
    },
    "offer.declined": {
        "offer": {
            "id": "off_1",
            "offer_id": OFFER_UUID,
            "candidate_id": "cand_2kQ9xY",
            "status": "declined",
            "responded_at": "2026-11-28T10:00:00Z",
        }
    },
}


def data(event_type: str) -> dict[str, Any]:
    """A deep copy of the valid ``data`` of ``event_type``, free to mutate."""
    return copy.deepcopy(DATA[event_type])


def envelope(
    event_type: str, payload: dict[str, Any] | None = None, *, event_id: str = "evt_1"
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": event_type,
        "created_at": "2026-11-28T10:00:00Z",
        "data": data(event_type) if payload is None else payload,
    }


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_every_example_is_valid_as_the_contract_writes_it():
    from shared.contract.envelope import parse_event
    from shared.contract.events import DATA_MODELS, EventType

    assert set(DATA) == {member.value for member in EventType}
    for event_type in DATA:
        parsed, event = parse_event(
            body(envelope(event_type)),
            content_type="application/json",
            webhook_id="evt_1",
            portal_base_url=BASE_URL,
        )
        assert parsed.event_type == EventType(event_type)
        assert isinstance(event, DATA_MODELS[EventType(event_type)])
