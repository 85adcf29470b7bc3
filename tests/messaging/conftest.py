"""Queue fixtures: a sender and a receiver on this test's own database (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.pg_receiver import PgQueueReceiver


@pytest.fixture
async def queue_pool(database_url: str) -> AsyncIterator[QueuePool]:
    pool = QueuePool(database_url)
    yield pool
    await pool.close()


@pytest.fixture
def sender(queue_pool: QueuePool) -> PgQueueSender:
    return PgQueueSender(queue_pool)


@pytest.fixture
def receiver(queue_pool: QueuePool) -> PgQueueReceiver:
    return PgQueueReceiver(queue_pool)
