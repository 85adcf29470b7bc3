"""Integration fixtures: the app's runtime on this test's own database, Redis prefix and queues."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.runtime import Runtime
from tests.support.pipeline import Pipeline


@pytest.fixture
async def pipeline(app_environ, webhook_secret, database_url) -> AsyncIterator[Pipeline]:
    runtime = await Runtime.from_environ(app_environ)
    pipe = Pipeline(runtime, webhook_secret, database_url)
    yield pipe
    await pipe.close()
