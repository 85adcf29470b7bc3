"""Telemetry: Application Insights through OpenTelemetry when a connection string is set.

``host.json`` sets ``telemetryMode: OpenTelemetry``; in that mode the worker's own OpenTelemetry
set-up (here) owns sampling and export. Without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` (local
runs, tests) nothing is exported and logs go to the console only.
"""

from __future__ import annotations

import logging
import os

from shared.settings import setting

log = logging.getLogger(__name__)

#: Share of traces kept in Azure; logs and metrics are not sampled.
TRACE_SAMPLING_RATIO = 0.2

_configured = False


#: Libraries whose INFO lines are noise here (httpx logs every request URL).
QUIET_LOGGERS = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")


def configure_telemetry() -> bool:
    """Configure Azure Monitor once per worker; True when telemetry export is on."""
    global _configured
    if _configured:
        return True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    connection_string = setting(os.environ, "APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection_string is None:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        sampling_ratio=TRACE_SAMPLING_RATIO,
        logger_name="shared",
    )
    _configured = True
    log.info("Application Insights export configured (trace sampling %.0f%%)", TRACE_SAMPLING_RATIO * 100)
    return True
