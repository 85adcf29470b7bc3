"""Fixtures of the outbound tests: the app's runtime on this test's database, Redis and queues, a
real portal simulator, and the dispatcher with a clock and a random source the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from shared.runtime import Runtime
from tests.support.outbound import Clock, Outbound, Randoms

MakeOutbound = Callable[..., Awaitable[Outbound]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_outbound(portal_environ, portal, database_url, clock) -> AsyncIterator[MakeOutbound]:
    """``await make_outbound(SETTING=value, randoms=Randoms(...))``: one per test."""
    runtimes: list[Runtime] = []

    async def make(*, randoms: Randoms | None = None, **settings: str) -> Outbound:
        runtime = await Runtime.from_environ({**portal_environ, **settings})
        runtimes.append(runtime)
        return Outbound(runtime, portal, database_url, clock=clock, randoms=randoms or Randoms())

    yield make
    for runtime in runtimes:
        await runtime.close()


@pytest.fixture
async def outbound(make_outbound) -> Outbound:
    return await make_outbound()
