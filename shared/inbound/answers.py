"""HTTP answers of the receiver and importer, independent of any web framework.

Every 4xx with a body is ``application/problem+json`` (RFC 9457) with an ``errors`` list, as the
contract says; function shells turn an :class:`Answer` into their framework's response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import FieldError

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

TITLES: Mapping[int, str] = {
    400: "Malformed delivery",
    401: "Signature verification failed",
    413: "Payload too large",
    422: "Event data failed validation",
    503: "Temporarily unable to accept the delivery",
}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any) -> Answer:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode())

    @classmethod
    def problem(
        cls,
        status: int,
        detail: str,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        payload = {
            "type": "about:blank",
            "title": TITLES.get(status, "Request failed"),
            "status": status,
            "detail": detail,
            "errors": [error.as_dict() for error in errors],
        }
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), PROBLEM_JSON, headers or {})


ACCEPTED = Answer(202, b'{"status":"accepted"}')
SECRETS_UNAVAILABLE = Answer.problem(
    503, "the webhook secrets could not be read; retry later", headers={"Retry-After": "30"}
)
#: The app cannot start (a setting is missing or malformed): the portal keeps retrying (5xx)
#: until an operator fixes the settings; the details are in the log and in readiness.
MISCONFIGURED = Answer.problem(
    503,
    "the integration is misconfigured; an operator has to fix its settings",
    headers={"Retry-After": "60"},
)
ALREADY_PROCESSED = Answer(200, b'{"status":"already_processed"}')
