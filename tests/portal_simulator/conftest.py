"""Fixtures: a recording ATS receiver and a simulator delivering to it, with fast retries and
follow-ups, seeded random sources, and a REST client carrying the bearer key."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

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


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture
async def portal(receiver: Receiver) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(
        fast_config(receiver), data_rng=random.Random(7), fault_rng=random.Random(11)
    ) as running:
        yield running


@pytest.fixture
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
