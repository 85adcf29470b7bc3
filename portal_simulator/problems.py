"""``application/problem+json`` answers (RFC 9457), the one error shape of the portal's API.

Each field error names the field by its dotted path (list indexes as segments, e.g.
``proposed_slots.0.start``) and says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"

FieldErrors = Sequence[Mapping[str, str]]


def field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def problem(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    errors: FieldErrors | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response with ``type: about:blank`` and an optional ``errors`` list."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = [dict(error) for error in errors]
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)
