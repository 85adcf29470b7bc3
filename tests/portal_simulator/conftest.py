"""Fixtures: a recording ATS receiver and a simulator delivering to it, with fast retries and
follow-ups, seeded random sources, and a REST client carrying the bearer key.

Starting and stopping uvicorn costs ~0.2 s per server, so one receiver and one simulator serve
the whole session (async test modules run in the session loop: ``SESSION_LOOP``); the
``portal`` and ``receiver`` fixtures reset them before each test, through the admin API.
Tests that need another configuration start their own simulator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import pytest_asyncio

from portal_simulator import RetryPolicy, SimulatorConfig
from portal_simulator.signing import new_secret
from portal_simulator.testing import RunningSimulator, running_simulator
from tests.portal_simulator.receiver import Receiver, running_receiver

FAST_RETRY = RetryPolicy(initial_seconds=0.02, max_seconds=0.1, max_attempts=4, timeout_seconds=2.0)
SECRETS = f"{new_secret(random.Random(1))} {new_secret(random.Random(2))}"


def fast_config(receiver: Receiver, **overrides: object) -> SimulatorConfig:
    values: dict[str, object] = {
        "ats_url": receiver.url,
        "webhook_secrets": SECRETS,
        "retry": FAST_RETRY,
        "followup_delay_seconds": 0.05,
        "interview_decline_rate": 0.0,
        "offer_decline_rate": 0.0,
        **overrides,
    }
    return SimulatorConfig(**values)  # type: ignore[arg-type]


SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")
"""Mark of async test modules, so they share the session's receiver and simulator."""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_portal(shared_receiver: Receiver) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(
        fast_config(shared_receiver), data_rng=random.Random(7), fault_rng=random.Random(11)
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def receiver(shared_receiver: Receiver) -> Receiver:
    shared_receiver.received.clear()
    shared_receiver.statuses.clear()
    shared_receiver.responder = None
    return shared_receiver


@pytest_asyncio.fixture(loop_scope="session")
async def portal(shared_portal: RunningSimulator, receiver: Receiver) -> RunningSimulator:
    """The session's simulator, emptied, with this module's default behaviour and no faults."""
    await shared_portal.admin.reset()
    await shared_portal.admin.update_settings(
        followup_delay_seconds=0.05, interview_decline_rate=0.0, offer_decline_rate=0.0, followups=True
    )
    receiver.received.clear()
    return shared_portal


@pytest_asyncio.fixture(loop_scope="session")
async def rest(portal: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with portal.rest_client(timeout=5.0) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``check`` every 10 ms until it is true, failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
