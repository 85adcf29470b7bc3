"""webhook_receiver: the portal's signed webhooks and bulk imports onto ``portal-events``.

A thin shell: read the request, call the core, map the answer. Both routes are anonymous: the
HMAC signature is their authentication.
"""

import logging

import azure.functions as func

from shared.errors import ConfigurationError
from shared.inbound.answers import MISCONFIGURED, Answer
from shared.runtime import Runtime, get_runtime
from shared.telemetry import invocation_of, tracer

bp = func.Blueprint()
log = logging.getLogger(__name__)


def _headers(req: func.HttpRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in req.headers.items()}


def _response(answer: Answer) -> func.HttpResponse:
    return func.HttpResponse(
        answer.body, status_code=answer.status, headers=dict(answer.headers), mimetype=answer.content_type
    )


async def _runtime() -> Runtime | None:
    """The worker's runtime, or None when its settings are invalid (logged, answered 503)."""
    try:
        return await get_runtime()
    except ConfigurationError as exc:
        log.error("the app cannot start: %s", exc)
        return None


@bp.route(route="portal/webhooks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def portal_webhook(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    runtime = await _runtime()
    if runtime is None:
        return _response(MISCONFIGURED)
    # The delivery's trace: the host's request, then (through the queued message) the processor.
    with invocation_of(context), tracer().start_as_current_span("portal webhook"):
        return _response(await runtime.receiver.receive(_headers(req), req.get_body()))


@bp.route(route="portal/candidates/import", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def portal_candidate_import(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    runtime = await _runtime()
    if runtime is None:
        return _response(MISCONFIGURED)
    with invocation_of(context), tracer().start_as_current_span("portal candidate import"):
        return _response(await runtime.importer.receive(_headers(req), req.get_body()))
