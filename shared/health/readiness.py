"""Readiness: can this app accept webhooks right now, and what is degraded?

Every component is checked concurrently with a short timeout, so one hanging dependency cannot
make the probe itself hang. The answer has one entry per component (``postgres``, ``redis``,
``blob``, ``queues``, ``portal``) with its state and latency. The app can accept webhooks when
the queue transport works: a 202 means "durably queued", and a valid event needs nothing else to
be queued. PostgreSQL, Redis, Blob Storage and the portal being down only degrade it: events wait
in the queue and apply when PostgreSQL returns, the receiver skips the Redis fast path, transfers
and outbound calls wait and retry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the runtime imports this package's adapters: no import cycle at run time
    from shared.runtime import Runtime

CHECK_TIMEOUT_SECONDS = 2.0


class ComponentState(StrEnum):
    UP = "up"
    DOWN = "down"


class Readiness(StrEnum):
    READY = "ready"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"


#: Components without which webhooks cannot be accepted; the rest only degrade.
CRITICAL = frozenset({"queues"})


@dataclass(frozen=True, slots=True)
class ComponentReport:
    state: ComponentState
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"state": self.state.value, "latency_ms": round(self.latency_ms, 1)}
        if self.error:
            body["error"] = self.error
        return body


Check = Callable[[], Awaitable[object]]


async def _timed(check: Check, timeout: float) -> ComponentReport:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await check()
    except TimeoutError:
        return ComponentReport(ComponentState.DOWN, (time.perf_counter() - started) * 1000, "timed out")
    except Exception as exc:
        # The type only: messages may carry connection strings or host names with credentials.
        return ComponentReport(
            ComponentState.DOWN, (time.perf_counter() - started) * 1000, type(exc).__name__
        )
    return ComponentReport(ComponentState.UP, (time.perf_counter() - started) * 1000)


def overall(components: Mapping[str, ComponentReport]) -> Readiness:
    down = {name for name, report in components.items() if report.state is ComponentState.DOWN}
    if down & CRITICAL:
        return Readiness.UNAVAILABLE
    return Readiness.DEGRADED if down else Readiness.READY


def runtime_checks(runtime: Runtime) -> dict[str, Check]:
    async def postgres() -> None:
        async with runtime.db.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
            await conn.execute("SELECT 1")

    async def redis() -> None:
        await runtime.redis.ping()

    async def blob() -> None:
        await runtime.blobs.get_service_properties()

    async def queues() -> None:
        await runtime.sender.ping()

    async def portal() -> None:
        await runtime.portal.health()

    return {"postgres": postgres, "redis": redis, "blob": blob, "queues": queues, "portal": portal}


async def check_readiness(
    checks: Mapping[str, Check], *, timeout: float = CHECK_TIMEOUT_SECONDS
) -> tuple[Readiness, dict[str, ComponentReport]]:
    names = list(checks)
    reports = await asyncio.gather(*(_timed(checks[name], timeout) for name in names))
    components = dict(zip(names, reports, strict=True))
    return overall(components), components


def readiness_body(status: Readiness, components: Mapping[str, ComponentReport]) -> dict[str, Any]:
    return {"status": status.value, "components": {k: v.as_dict() for k, v in components.items()}}
