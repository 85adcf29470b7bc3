"""Drive the outbound flow's core against real services with a clock the test controls.

The dispatcher under test is the product's :class:`SyncDispatcher` on the test's runtime (its
PostgreSQL pool, Redis, queues, secrets and alerter), with the clock, the breaker's clock and
the jitter's random source injected, so a test moves time instead of sleeping.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from portal_simulator.testing import RunningSimulator
from shared.circuit_breaker import CircuitBreaker
from shared.outbound.dispatcher import ReplayReport, SyncDispatcher
from shared.outcomes import Outcome
from shared.portal_activity import PgActivityLog
from shared.portal_client import PortalClient
from shared.runtime import Runtime
from tests.support import ats
from tests.support import events as ev


class Clock:
    """A wall clock that moves only when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2027, 1, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def to(self, moment: datetime) -> None:
        self.now = moment


class Randoms:
    """U[0, 1) values in a fixed cycle, recorded as they are drawn."""

    def __init__(self, values: Iterable[float] = (0.5,)) -> None:
        self._values = itertools.cycle(list(values))
        self.drawn: list[float] = []

    def __call__(self) -> float:
        value = next(self._values)
        self.drawn.append(value)
        return value


class Outbound:
    def __init__(
        self, runtime: Runtime, portal: RunningSimulator, database_url: str, *, clock: Clock, randoms: Randoms
    ) -> None:
        self.runtime = runtime
        self.portal = portal
        self.database_url = database_url
        self.clock = clock
        self.randoms = randoms
        settings = runtime.settings
        self.breaker = CircuitBreaker(
            runtime.redis,
            settings.redis_key_prefix,
            failure_threshold=settings.circuit_failure_threshold,
            cooldown_seconds=settings.circuit_cooldown_seconds,
            clock=clock.epoch,
        )
        self.client = PortalClient(
            runtime.portal_http,
            runtime.secrets,
            self.breaker,
            activity=PgActivityLog(runtime.db),
            alerter=runtime.alerter,
        )
        self.dispatcher = self.make_dispatcher()

    def make_dispatcher(self, runtime: Runtime | None = None, **options: Any) -> SyncDispatcher:
        runtime = runtime or self.runtime
        client = self.client
        if runtime is not self.runtime:
            client = PortalClient(
                runtime.portal_http,
                runtime.secrets,
                self.breaker,
                activity=PgActivityLog(runtime.db),
                alerter=runtime.alerter,
            )
        return SyncDispatcher(
            db=runtime.db,
            portal=client,
            alerter=runtime.alerter,
            sender=runtime.sender,
            lease_seconds=runtime.settings.sync_lease_seconds,
            clock=self.clock,
            random_source=self.randoms,
            **options,
        )

    # --- the ATS's side ---------------------------------------------------------------------------

    async def candidate(self, *, stage: str = "interview", on_portal: bool = True) -> tuple[str, str]:
        """A candidate the ATS holds (and the portal too, unless ``on_portal`` is false):
        (ATS uuid, portal id)."""
        profile = ev.candidate()
        if on_portal:
            profile = await self.portal.admin.seed_candidate(profile)
        [row] = self.rows(
            "INSERT INTO candidates (portal_candidate_id, first_name, last_name, email, stage) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            profile["id"],
            profile["first_name"],
            profile["last_name"],
            profile["email"],
            stage,
        )
        return str(row["id"]), str(profile["id"])

    async def send(self, cmd: dict[str, Any] | bytes, **options: Any) -> Outcome:
        return await self.dispatcher.handle(ats.message(cmd, **options))

    async def replay(self, *, budget_seconds: float = 60.0) -> ReplayReport:
        return await self.dispatcher.replay(budget_seconds=budget_seconds)

    async def tick(self, seconds: float, *, budget_seconds: float = 60.0) -> ReplayReport:
        self.clock.advance(seconds)
        return await self.replay(budget_seconds=budget_seconds)

    # --- what happened ------------------------------------------------------------------------

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def row(self, command_id: str) -> dict[str, Any]:
        [row] = self.rows("SELECT * FROM sync_queue WHERE command_id = %s", command_id)
        return row

    def stage(self, candidate_id: str) -> str:
        [row] = self.rows("SELECT stage FROM candidates WHERE id = %s", candidate_id)
        return str(row["stage"])

    async def calls(self, route: str) -> dict[str, Any]:
        """The simulator's counters for one route (``POST /v1/offers``)."""
        stats = await self.portal.admin.stats()
        return dict(stats["requests"].get(route, {"total": 0, "by_status": {}, "by_idempotency_key": {}}))

    async def by_key(self, route: str) -> dict[str, dict[str, Any]]:
        return dict((await self.calls(route)).get("by_idempotency_key", {}))
