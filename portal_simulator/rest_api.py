"""The portal's REST API (``/v1/*``), as the contract's table states it.

Authentication and faults are applied before a request gets here (:mod:`portal_simulator.edge`).
Every POST goes through :func:`idempotent`: ``Idempotency-Key`` must be a UUID (400 otherwise),
a remembered 2xx is replayed, a different body under a remembered key is 409.

Decisions the contract leaves open, written down in ``docs/portal-simulator.md``:
an interview request or offer for a candidate the portal does not know is 422 naming
``candidate_id`` (the URL is fine, the body refers to nothing); a ``request_id`` or ``offer_id``
already taken under another key is 409; a status update for an unknown candidate is 404.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from portal_simulator import ids
from portal_simulator.documents import DocumentFile
from portal_simulator.problems import field_error, problem
from portal_simulator.rest_models import InterviewRequestBody, OfferBody, StatusBody
from portal_simulator.state import InterviewRequest, Offer
from portal_simulator.times import rfc3339

if TYPE_CHECKING:
    from portal_simulator.simulator import Simulator

CORRUPT_DOCUMENT = "portal_simulator.corrupt_document"
"""Scope key set by the edge when the ``corrupt_document`` fault fired for this call."""
OVERSIZE_DOCUMENT = "portal_simulator.oversize_document"
"""Scope key set by the edge to the extra bytes of an ``oversize_document`` fault."""

Handler = Callable[[bytes], Awaitable[Response]]


def validation_problem(error: ValidationError) -> Response:
    errors = [
        field_error(".".join(str(part) for part in item["loc"]), item["msg"].removeprefix("Value error, "))
        for item in error.errors()
    ]
    return problem(422, "Request body failed validation", errors=errors)


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M | Response:
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as error:
        return validation_problem(error)


async def idempotent(request: Request, handler: Handler) -> Response:
    """Run ``handler`` once per ``Idempotency-Key`` (see the module docstring)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return problem(
            400,
            "Idempotency-Key required",
            errors=[field_error("Idempotency-Key", "header required on every POST")],
        )
    try:
        uuid.UUID(key)
    except ValueError:
        return problem(
            400, "Idempotency-Key is not a UUID", errors=[field_error("Idempotency-Key", "not a UUID")]
        )
    raw = await request.body()
    try:
        value: Any = json.loads(raw, parse_float=Decimal)
    except ValueError:
        return problem(400, "Malformed request", detail="the body is not valid JSON")
    if not isinstance(value, dict):
        return problem(400, "Malformed request", detail="the body is not a JSON object")
    simulator: Simulator = request.app.state.simulator
    store = simulator.state.idempotency
    method, path = request.method, request.url.path
    async with store.lock(key):
        remembered = store.lookup(key)
        if remembered is not None:
            if not remembered.same_request(method, path, value):
                return problem(
                    409,
                    "Idempotency-Key reused with a different request",
                    detail="this key already answered another request within 24 hours",
                )
            return Response(
                remembered.content,
                status_code=remembered.status,
                media_type=remembered.media_type,
                headers={"Idempotent-Replayed": "true"},
            )
        response = await handler(raw)
        if 200 <= response.status_code < 300:
            store.remember(
                key,
                method=method,
                path=path,
                body=value,
                status=response.status_code,
                content=bytes(response.body),
                media_type=response.media_type or "application/json",
            )
        return response


def _simulator(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def get_candidate(request: Request) -> Response:
    candidate_id = request.path_params["cand_id"]
    profile = _simulator(request).state.candidates.get(candidate_id)
    if profile is None:
        return problem(404, "Candidate not found", detail=f"no candidate {candidate_id}")
    return JSONResponse({"candidate": profile})


def _refusal(simulator: Simulator, candidate_id: str, taken: object | None, id_name: str) -> Response | None:
    """The answer to a request/offer the portal cannot take: unknown candidate (422), or its
    ATS id already taken under another Idempotency-Key (409)."""
    if candidate_id not in simulator.state.candidates:
        return problem(
            422, "Request body failed validation", errors=[field_error("candidate_id", "unknown candidate")]
        )
    if taken is not None:
        return problem(409, f"{id_name} already taken", detail=f"another request used this {id_name}")
    return None


async def create_interview_request(request: Request) -> Response:
    simulator = _simulator(request)
    state = simulator.state

    async def handle(raw: bytes) -> Response:
        body = parse_body(InterviewRequestBody, raw)
        if isinstance(body, Response):
            return body
        request_id = str(body.request_id)
        refused = _refusal(
            simulator, body.candidate_id, state.interview_by_request_id(request_id), "request_id"
        )
        if refused is not None:
            return refused
        record = InterviewRequest(
            id=simulator.ids.new(ids.INTERVIEW_REQUEST),
            request_id=request_id,
            candidate_id=body.candidate_id,
            body=json.loads(raw),
            created_at=state.clock(),
            planned_answer=simulator.followups.plan_interview_answer(),
        )
        state.interview_requests[record.id] = record
        simulator.followups.interview_taken(record)
        return JSONResponse({"id": record.id, "request_id": request_id, "status": "pending"}, status_code=201)

    return await idempotent(request, handle)


async def create_offer(request: Request) -> Response:
    simulator = _simulator(request)
    state = simulator.state

    async def handle(raw: bytes) -> Response:
        body = parse_body(OfferBody, raw)
        if isinstance(body, Response):
            return body
        offer_id = str(body.offer_id)
        refused = _refusal(simulator, body.candidate_id, state.offer_by_offer_id(offer_id), "offer_id")
        if refused is not None:
            return refused
        record = Offer(
            id=simulator.ids.new(ids.OFFER),
            offer_id=offer_id,
            candidate_id=body.candidate_id,
            body=json.loads(raw),
            created_at=state.clock(),
            planned_answer=simulator.followups.plan_offer_answer(),
        )
        state.offers[record.id] = record
        simulator.followups.offer_taken(record)
        return JSONResponse({"id": record.id, "offer_id": offer_id, "status": "sent"}, status_code=201)

    return await idempotent(request, handle)


async def update_status(request: Request) -> Response:
    simulator = _simulator(request)
    state = simulator.state
    candidate_id = request.path_params["cand_id"]

    async def handle(raw: bytes) -> Response:
        if candidate_id not in state.candidates:
            return problem(404, "Candidate not found", detail=f"no candidate {candidate_id}")
        body = parse_body(StatusBody, raw)
        if isinstance(body, Response):
            return body
        received_at = rfc3339(state.clock())
        update = {
            "candidate_id": candidate_id,
            "stage": body.stage,
            "message": body.message,
            "received_at": received_at,
        }
        state.status_updates.append(update)
        return JSONResponse(
            {
                "candidate_id": candidate_id,
                "stage": body.stage,
                "status": "updated",
                "received_at": received_at,
            }
        )

    return await idempotent(request, handle)


async def document_content(request: Request) -> Response:
    """The bytes, streamed (a document may be hundreds of megabytes), with ``Content-Length``.

    Faults the edge decided for this call: ``corrupt_document`` flips the first byte (same size,
    wrong sha256); ``oversize_document`` sends ``extra`` more bytes than announced, without a
    ``Content-Length`` (chunked), as a portal that lies about a file would.
    """
    document_id = request.path_params["doc_id"]
    document = _simulator(request).state.documents.get(document_id)
    if document is None:
        return problem(404, "Document not found", detail=f"no document {document_id}")
    file = document.file
    corrupt = bool(request.scope.get(CORRUPT_DOCUMENT))
    extra = int(request.scope.get(OVERSIZE_DOCUMENT) or 0)
    headers = {
        "content-type": file.content_type,
        "content-disposition": f'attachment; filename="{file.file_name}"',
    }
    if not extra:
        headers["content-length"] = str(file.size)
    return StreamingResponse(_body(file, corrupt=corrupt, extra=extra), headers=headers)


async def _body(file: DocumentFile, *, corrupt: bool, extra: int) -> AsyncIterator[bytes]:
    for index, chunk in enumerate(c for c in file.chunks() if c):
        yield bytes([chunk[0] ^ 0xFF]) + chunk[1:] if index == 0 and corrupt else chunk
        await asyncio.sleep(0)  # let other requests in while a large file streams
    filler = b"\x00" * min(extra, 1024 * 1024)
    while extra > 0:
        piece = filler[:extra]
        extra -= len(piece)
        yield piece
        await asyncio.sleep(0)


ROUTES = [
    Route("/v1/health", health, methods=["GET"]),
    Route("/v1/candidates/{cand_id}", get_candidate, methods=["GET"]),
    Route("/v1/candidates/{cand_id}/status", update_status, methods=["POST"]),
    Route("/v1/interview-requests", create_interview_request, methods=["POST"]),
    Route("/v1/offers", create_offer, methods=["POST"]),
    Route("/v1/documents/{doc_id}/content", document_content, methods=["GET"]),
]
