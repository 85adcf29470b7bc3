"""Integration fixtures: the app's runtime on this test's own database, Redis prefix and queues,
talking to a real portal simulator on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from portal_simulator.testing import RunningSimulator, running_simulator
from shared.runtime import Runtime
from tests.support.pipeline import Pipeline


@pytest.fixture
async def portal(api_key, webhook_secret) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(
        api_key=api_key, webhook_secrets=webhook_secret, ats_url="http://127.0.0.1:9/api/portal/webhooks"
    ) as sim:
        yield sim


@pytest.fixture
def portal_environ(app_environ, portal) -> dict[str, str]:
    return {**app_environ, "PORTAL_BASE_URL": portal.base_url}


@pytest.fixture
async def pipeline(portal_environ, webhook_secret, database_url) -> AsyncIterator[Pipeline]:
    runtime = await Runtime.from_environ(portal_environ)
    pipe = Pipeline(runtime, webhook_secret, database_url)
    yield pipe
    await pipe.close()
