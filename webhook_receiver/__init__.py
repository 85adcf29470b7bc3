"""webhook_receiver: the portal's signed webhooks and bulk imports onto ``portal-events``.

A thin shell: read the request, call the core, map the answer. Both routes are anonymous: the
HMAC signature is their authentication.
"""

import azure.functions as func

from shared.inbound.answers import Answer
from shared.runtime import get_runtime

bp = func.Blueprint()


def _headers(req: func.HttpRequest) -> dict[str, str]:
    return {name.lower(): value for name, value in req.headers.items()}


def _response(answer: Answer) -> func.HttpResponse:
    return func.HttpResponse(
        answer.body, status_code=answer.status, headers=dict(answer.headers), mimetype=answer.content_type
    )


@bp.route(route="portal/webhooks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def portal_webhook(req: func.HttpRequest) -> func.HttpResponse:
    runtime = await get_runtime()
    return _response(await runtime.receiver.receive(_headers(req), req.get_body()))


@bp.route(route="portal/candidates/import", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def portal_candidate_import(req: func.HttpRequest) -> func.HttpResponse:
    runtime = await get_runtime()
    return _response(await runtime.importer.receive(_headers(req), req.get_body()))
