"""The admin API (``/admin/*``, JSON, no key, never faulted): how tests, the CLI and demos drive
the simulator: generate and deliver events, seed candidates, set faults and behaviour, read
counters and records, reset. Shapes are documented in ``docs/portal-simulator.md``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal_simulator.bulk_import import ImportRequest
from portal_simulator.events import EVENT_TYPES
from portal_simulator.faults import FaultRule, FaultSettings
from portal_simulator.generation import EventsRequest, GeneratedEvent, NoInvalidCase, UnknownCandidate
from portal_simulator.invalid import CASES
from portal_simulator.problems import field_error, problem
from portal_simulator.rest_api import validation_problem

if TYPE_CHECKING:
    from portal_simulator.simulator import Simulator


class BehaviourUpdate(BaseModel):
    """Body of ``PUT /admin/settings``: any subset of the behaviour."""

    model_config = ConfigDict(extra="forbid")

    followup_delay_seconds: float | None = Field(default=None, ge=0)
    interview_decline_rate: float | None = Field(default=None, ge=0, le=1)
    offer_decline_rate: float | None = Field(default=None, ge=0, le=1)
    followups: bool | None = None


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float = Field(default=10.0, ge=0, le=600)


def _sim(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


M = TypeVar("M", bound=BaseModel)


async def _parse(request: Request, model: type[M]) -> M | Response:
    try:
        payload = await _json(request)
    except ValueError:
        return problem(400, "Malformed request", detail="the body is not valid JSON")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        return validation_problem(error)


def _event_item(event: GeneratedEvent, delivery: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "event": event.envelope,
        "duplicate": event.duplicate,
        "invalid": event.invalid.label() if event.invalid is not None else None,
        "delivery": delivery,
    }


async def generate_events(request: Request) -> Response:
    body = await _parse(request, EventsRequest)
    if isinstance(body, Response):
        return body
    simulator = _sim(request)
    try:
        events = simulator.generator.batch(body)
    except UnknownCandidate as error:
        return problem(
            404, "Candidate not found", errors=[field_error("candidate", f"unknown candidate {error}")]
        )
    except NoInvalidCase as error:
        return problem(422, "No invalid case", errors=[field_error("invalid_rule", str(error))])
    except ValueError as error:  # a document the simulator does not make (too large for its type)
        return problem(422, "Cannot make this document", errors=[field_error("document", str(error))])
    simulator.remember(events)
    items = []
    for event in events:
        delivery = (await simulator.emit(event.envelope)).as_dict() if body.deliver else None
        items.append(_event_item(event, delivery))
    return JSONResponse({"events": items})


async def list_events(request: Request) -> Response:
    return JSONResponse({"events": list(_sim(request).state.events.values())})


async def event_catalogue(request: Request) -> Response:
    return JSONResponse(
        {
            "types": list(EVENT_TYPES),
            "invalid_cases": [{**case.label(), "types": list(case.types)} for case in CASES],
        }
    )


async def register_candidate(request: Request) -> Response:
    payload = await _json(request)
    simulator = _sim(request)
    profile = payload.get("candidate", payload) if isinstance(payload, dict) else None
    if not isinstance(profile, dict):
        return problem(400, "Malformed request", detail='expected {"candidate": {...}} or {}')
    if profile:
        candidate_id = profile.get("id")
        if not isinstance(candidate_id, str) or not candidate_id.startswith("cand_"):
            return problem(
                422, "Candidate failed validation", errors=[field_error("candidate.id", "not a cand_ id")]
            )
        stored = simulator.generator.register_candidate(profile)
    else:
        stored = simulator.generator.register_candidate()
    return JSONResponse({"candidate": stored}, status_code=201)


async def list_candidates(request: Request) -> Response:
    return JSONResponse({"candidates": list(_sim(request).state.candidates.values())})


async def get_faults(request: Request) -> Response:
    return JSONResponse(_sim(request).state.faults.snapshot())


async def put_faults(request: Request) -> Response:
    body = await _parse(request, FaultSettings)
    if isinstance(body, Response):
        return body
    faults = _sim(request).state.faults
    faults.replace(body)
    return JSONResponse(faults.snapshot())


async def add_fault(request: Request) -> Response:
    body = await _parse(request, FaultRule)
    if isinstance(body, Response):
        return body
    faults = _sim(request).state.faults
    faults.add(body)
    return JSONResponse(faults.snapshot(), status_code=201)


async def reset_faults(request: Request) -> Response:
    faults = _sim(request).state.faults
    faults.reset()
    return JSONResponse(faults.snapshot())


async def get_stats(request: Request) -> Response:
    return JSONResponse(_sim(request).state.stats_snapshot())


async def list_deliveries(request: Request) -> Response:
    message_id = request.query_params.get("message_id")
    deliveries = [
        d.as_dict()
        for d in _sim(request).state.deliveries
        if message_id is None or d.message_id == message_id
    ]
    return JSONResponse({"deliveries": deliveries})


async def list_interview_requests(request: Request) -> Response:
    records = _sim(request).state.interview_requests.values()
    return JSONResponse({"interview_requests": [r.as_dict() for r in records]})


async def list_offers(request: Request) -> Response:
    return JSONResponse({"offers": [o.as_dict() for o in _sim(request).state.offers.values()]})


async def list_status_updates(request: Request) -> Response:
    return JSONResponse({"status_updates": _sim(request).state.status_updates})


async def get_settings(request: Request) -> Response:
    return JSONResponse(_sim(request).state.behaviour.as_dict())


async def put_settings(request: Request) -> Response:
    body = await _parse(request, BehaviourUpdate)
    if isinstance(body, Response):
        return body
    behaviour = _sim(request).state.behaviour
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(behaviour, name, value)
    return JSONResponse(behaviour.as_dict())


async def bulk_import(request: Request) -> Response:
    body = await _parse(request, ImportRequest)
    if isinstance(body, Response):
        return body
    simulator = _sim(request)
    batch = simulator.build_import(body)
    delivery = (await simulator.send_import(batch)).as_dict() if body.deliver else None
    lines = [
        {"line": number, **_event_item(event, None)} for number, event in enumerate(batch.lines, start=1)
    ]
    for line in lines:
        del line["delivery"]
    return JSONResponse(
        {"batch_id": batch.batch_id, "url": simulator.import_url, "lines": lines, "delivery": delivery}
    )


async def settle(request: Request) -> Response:
    body = await _parse(request, SettleRequest)
    if isinstance(body, Response):
        return body
    simulator = _sim(request)
    await simulator.followups.wait_idle(body.timeout_seconds)
    await simulator.sender.wait_settled(body.timeout_seconds)
    pending = [d.id for d in simulator.state.deliveries if d.outcome in ("pending", "retrying")]
    return JSONResponse({"settled": not pending, "pending_deliveries": pending})


async def reset(request: Request) -> Response:
    await _sim(request).reset()
    return JSONResponse({"status": "reset"})


ROUTES = [
    Route("/admin/events", generate_events, methods=["POST"]),
    Route("/admin/events", list_events, methods=["GET"]),
    Route("/admin/catalogue", event_catalogue, methods=["GET"]),
    Route("/admin/candidates", register_candidate, methods=["POST"]),
    Route("/admin/candidates", list_candidates, methods=["GET"]),
    Route("/admin/faults", get_faults, methods=["GET"]),
    Route("/admin/faults", put_faults, methods=["PUT"]),
    Route("/admin/faults", add_fault, methods=["POST"]),
    Route("/admin/faults/reset", reset_faults, methods=["POST"]),
    Route("/admin/stats", get_stats, methods=["GET"]),
    Route("/admin/deliveries", list_deliveries, methods=["GET"]),
    Route("/admin/interview-requests", list_interview_requests, methods=["GET"]),
    Route("/admin/offers", list_offers, methods=["GET"]),
    Route("/admin/status-updates", list_status_updates, methods=["GET"]),
    Route("/admin/settings", get_settings, methods=["GET"]),
    Route("/admin/settings", put_settings, methods=["PUT"]),
    Route("/admin/import", bulk_import, methods=["POST"]),
    Route("/admin/settle", settle, methods=["POST"]),
    Route("/admin/reset", reset, methods=["POST"]),
]
