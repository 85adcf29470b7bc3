"""Start-up robustness: a runtime that fails half-way closes what it had opened.

Without that, a worker whose settings pass the form checks but whose later adapter cannot be
built would open (and leak) a PostgreSQL pool on every request that tries to start it again.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from shared.errors import ConfigurationError
from shared.runtime import Runtime
from shared.settings import Settings, load_settings


def _app_connections(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 'portal-integration:%%'"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_start_that_fails_half_way_leaks_no_pool(app_environ, database_url):
    valid = load_settings(app_environ)
    # A storage connection string the SDK refuses only when the client is built (after the
    # PostgreSQL pool has been opened); built without validation to reach that point.
    broken = Settings.model_construct(
        **{**valid.__dict__, "documents_storage": "BlobEndpoint=notaurl;SharedAccessSignature=x"}
    )
    for _ in range(5):  # as five requests to a misconfigured worker would
        with pytest.raises(ConfigurationError, match="DocumentsStorage"):
            await Runtime.start(broken)
    await asyncio.sleep(0.5)  # a leaked pool would have connected by now
    assert _app_connections(database_url) == 0

    runtime = await Runtime.start(valid)  # the control: a working start does hold a connection
    try:
        async with runtime.db.connection() as conn:
            await conn.execute("SELECT 1")
        assert _app_connections(database_url) >= 1
    finally:
        await runtime.close()
    assert _app_connections(database_url) == 0


async def test_a_malformed_connection_setting_fails_before_anything_is_opened(app_environ, database_url):
    with pytest.raises(ConfigurationError, match="ServiceBusConnection must be"):
        await Runtime.from_environ({**app_environ, "ServiceBusConnection": "Endpoint=https://nowhere"})
    assert _app_connections(database_url) == 0
