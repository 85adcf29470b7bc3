"""Integration health: readiness, metrics, alerts' state, the dashboard, retention.

* :mod:`shared.health.readiness`: can the app accept webhooks now (``/api/health/ready``);
* :mod:`shared.health.counts`: counts with no row (duplicates, 401s, 413s) in Redis per-minute
  buckets shared by every instance;
* :mod:`shared.health.queries` and :mod:`shared.health.collect`: the metrics, from the database
  where a row exists, from Redis and the queues otherwise (``/api/health/metrics``);
* :mod:`shared.health.alert_state`, :mod:`shared.health.alert_posts`,
  :mod:`shared.health.conditions`: one alert per incident, posted, resolved;
* :mod:`shared.health.dashboard`: the status page (``/api/health/dashboard``).

The readiness names are re-exported here: they were this package's only content before.
"""

from shared.health.readiness import (
    CHECK_TIMEOUT_SECONDS,
    ComponentReport,
    ComponentState,
    Readiness,
    check_readiness,
    overall,
    readiness_body,
    runtime_checks,
)

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "ComponentReport",
    "ComponentState",
    "Readiness",
    "check_readiness",
    "overall",
    "readiness_body",
    "runtime_checks",
]
