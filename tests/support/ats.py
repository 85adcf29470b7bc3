"""ATS commands for tests, built by hand from DESIGN.md (not by the app's code)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.queued import QueuedMessage


def command(
    kind: str, candidate_id: str, data: dict[str, Any], *, command_id: str | None = None
) -> dict[str, Any]:
    return {
        "command_id": command_id or str(uuid.uuid4()),
        "type": kind,
        "candidate_id": candidate_id,
        "data": data,
    }


def interview_request(
    candidate_id: str, *, request_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "request_id": request_id or str(uuid.uuid4()),
        "duration_minutes": 45,
        "proposed_slots": [
            {"start": "2027-01-11T10:00:00Z", "end": "2027-01-11T10:45:00Z"},
            {"start": "2027-01-12T14:00:00+01:00", "end": "2027-01-12T14:45:00+01:00"},
        ],
        "timezone": "Europe/London",
        "interviewers": ["Grace Hopper"],
        **overrides,
    }
    return command("interview.request", candidate_id, data)


def offer(candidate_id: str, *, offer_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "offer_id": offer_id or str(uuid.uuid4()),
        "title": "Data Analyst",
        "salary": {"amount": "85000.00", "currency": "GBP"},
        "start_date": "2027-03-01",
        "expires_at": "2027-01-31T17:00:00Z",
        **overrides,
    }
    return command("offer.send", candidate_id, data)


def status(candidate_id: str, stage: str, message: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"stage": stage}
    if message is not None:
        data["message"] = message
    return command("candidate.status", candidate_id, data)


def message(
    cmd: dict[str, Any] | bytes, *, message_id: str | None = None, delivery_count: int = 1
) -> QueuedMessage:
    body = cmd if isinstance(cmd, bytes) else json.dumps(cmd).encode()
    mid = message_id or (str(cmd.get("command_id")) if isinstance(cmd, dict) else str(uuid.uuid4()))
    return QueuedMessage(body=body, message_id=mid, delivery_count=delivery_count)
