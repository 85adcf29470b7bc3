"""health_probe: liveness and readiness (HTTP, anonymous). A thin shell over shared.health."""

import json

import azure.functions as func

from shared.errors import ConfigurationError
from shared.health import Readiness, check_readiness, readiness_body, runtime_checks
from shared.runtime import get_runtime

bp = func.Blueprint()

_JSON = "application/json"


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health_live(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: the worker answers. No I/O, so a slow dependency never restarts the app."""
    return func.HttpResponse('{"status": "ok"}', status_code=200, mimetype=_JSON)


@bp.route(route="health/ready", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health_ready(req: func.HttpRequest) -> func.HttpResponse:
    """Readiness: 200 when webhooks can be accepted (possibly degraded), 503 when not."""
    try:
        runtime = await get_runtime()
    except ConfigurationError as exc:
        # Settings errors name the setting and never carry its value: safe to show.
        body = {"status": Readiness.UNAVAILABLE.value, "error": str(exc), "components": {}}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype=_JSON)
    status, components = await check_readiness(runtime_checks(runtime))
    code = 503 if status is Readiness.UNAVAILABLE else 200
    return func.HttpResponse(json.dumps(readiness_body(status, components)), status_code=code, mimetype=_JSON)
