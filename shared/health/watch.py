"""The health timer's core, every minute: measure, judge, raise or resolve, retry failed posts.

1. gather the metrics (:func:`shared.health.collect.collect`) and hand them to the
   OpenTelemetry gauges (Application Insights);
2. note the breaker's last change (its closing is only seen from here);
3. judge the conditions (:mod:`shared.health.conditions`): raise those that hold, resolve those
   that no longer do;
4. look at each open alert raised by a flow and resolve it when its cause is gone;
5. post again the alert posts that failed before.

It never raises for a source that is down: each step does what it can and the report says what
it could not read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from shared.alerts import Alerter
from shared.health.alert_state import AlertStore
from shared.health.collect import HealthSources, collect
from shared.health.conditions import CONDITION_KINDS, STILL_HOLDS, Thresholds, judge
from shared.health.instruments import HealthInstruments

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(slots=True)
class WatchReport:
    raised: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    posts_retried: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)


class HealthWatch:
    def __init__(
        self,
        *,
        sources: HealthSources,
        alerter: Alerter,
        store: AlertStore,
        thresholds: Thresholds,
        instruments: HealthInstruments | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._sources = sources
        self._alerter = alerter
        self._store = store
        self._thresholds = thresholds
        self._instruments = instruments
        self._clock = clock

    @property
    def db(self) -> AsyncConnectionPool:
        return self._sources.db

    async def run(self) -> WatchReport:
        now = self._clock()
        report = WatchReport()
        metrics = await collect(self._sources, now=now)
        report.unavailable = dict(metrics["unavailable"])
        if self._instruments is not None:
            self._instruments.update(metrics)
        for judgement in judge(metrics, self._thresholds):
            name = f"{judgement.kind} [{judgement.key}]"
            if judgement.holds is True:
                await self._alerter.raise_alert(judgement.kind, judgement.key, judgement.text)
                report.raised.append(name)
            elif judgement.holds is False and await self._alerter.resolve(
                judgement.kind, judgement.key, by="condition cleared"
            ):
                report.resolved.append(name)
        report.resolved += await self._resolve_gone_causes()
        report.posts_retried = await self._alerter.retry_posts()
        return report

    async def _resolve_gone_causes(self) -> list[str]:
        """Open alerts raised by the flows whose cause no longer holds (:data:`STILL_HOLDS`)."""
        try:
            open_alerts = await self._store.open_alerts()
        except Exception as exc:
            log.warning("health watch: open alerts unavailable (%s)", type(exc).__name__)
            return []
        resolved: list[str] = []
        for alert in open_alerts:
            query = STILL_HOLDS.get(alert.kind)
            if alert.kind in CONDITION_KINDS or query is None:
                continue
            try:
                async with self.db.connection(timeout=2.0) as conn:
                    row = await (await conn.execute(query, {"key": alert.key})).fetchone()
            except Exception as exc:
                log.warning("health watch: cannot check %s (%s)", alert.kind, type(exc).__name__)
                return resolved
            if (
                row is not None
                and not row[0]
                and await self._alerter.resolve(alert.kind, alert.key, by="cause cleared")
            ):
                resolved.append(f"{alert.kind} [{alert.key}]")
        return resolved
