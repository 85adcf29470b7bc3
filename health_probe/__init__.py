"""health_probe: liveness and readiness (anonymous), metrics and the dashboard (function key), the
health timer (every minute) and the payload retention timer (daily). A thin shell over
``shared.health`` and ``shared.recovery.retention``."""

import json
import logging
from datetime import UTC, datetime

import azure.functions as func

from shared.errors import ConfigurationError
from shared.health import Readiness, check_readiness, readiness_body, runtime_checks
from shared.health.collect import collect
from shared.health.dashboard import CONTENT_TYPE as HTML
from shared.health.dashboard import dashboard_data, render
from shared.health.samples import CONTENT_TYPE as PROMETHEUS
from shared.health.samples import prometheus_text
from shared.runtime import Runtime, get_runtime

bp = func.Blueprint()
log = logging.getLogger(__name__)

_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-store"}


async def _runtime() -> Runtime | func.HttpResponse:
    """The worker's runtime, or the 503 that names the settings error (never a value)."""
    try:
        return await get_runtime()
    except ConfigurationError as exc:
        body = {"status": Readiness.UNAVAILABLE.value, "error": str(exc)}
        return func.HttpResponse(json.dumps(body), status_code=503, mimetype=_JSON)


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


@bp.route(route="health/metrics", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def health_metrics(req: func.HttpRequest) -> func.HttpResponse:
    """The metrics as JSON, or Prometheus text with ``?format=prometheus``."""
    runtime = await _runtime()
    if isinstance(runtime, func.HttpResponse):
        return runtime
    metrics = await collect(runtime.health_sources, now=datetime.now(UTC))
    if req.params.get("format") == "prometheus":
        return func.HttpResponse(
            prometheus_text(metrics), status_code=200, headers={**_NO_STORE, "Content-Type": PROMETHEUS}
        )
    return func.HttpResponse(json.dumps(metrics), status_code=200, mimetype=_JSON, headers=_NO_STORE)


@bp.route(route="health/dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def health_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """The status page; its own refreshes ask for ``?format=json`` with the same key."""
    runtime = await _runtime()
    if isinstance(runtime, func.HttpResponse):
        return runtime
    data = await dashboard_data(runtime.health_sources, now=datetime.now(UTC))
    if req.params.get("format") == "json":
        return func.HttpResponse(json.dumps(data), status_code=200, mimetype=_JSON, headers=_NO_STORE)
    page, headers = render(data)
    return func.HttpResponse(page, status_code=200, headers={**headers, "Content-Type": HTML})


@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False, use_monitor=False)
async def watch_health(timer: func.TimerRequest) -> None:
    """Every minute: metrics to Application Insights, alert conditions raised or resolved, alerts
    whose cause is gone resolved, failed alert posts retried."""
    try:
        runtime = await get_runtime()
    except ConfigurationError as exc:
        log.error("health watch skipped: %s", exc)
        return
    report = await runtime.health_watch.run()
    if report.raised or report.resolved or report.posts_retried or report.unavailable:
        log.info(
            "health watch: raised %s, resolved %s, %d posts retried, unavailable %s",
            report.raised,
            report.resolved,
            report.posts_retried,
            report.unavailable,
        )


@bp.timer_trigger(arg_name="timer", schedule="0 30 3 * * *", run_on_startup=False, use_monitor=False)
async def purge_payloads(timer: func.TimerRequest) -> None:
    """Daily: stored payloads older than PAYLOAD_RETENTION_DAYS purged (rows and reasons stay)."""
    try:
        runtime = await get_runtime()
    except ConfigurationError as exc:
        log.error("payload retention skipped: %s", exc)
        return
    report = await runtime.retention.purge(datetime.now(UTC))
    log.info(
        "payload retention: purged %s%s", report.purged, "" if report.finished else " (continues tomorrow)"
    )
