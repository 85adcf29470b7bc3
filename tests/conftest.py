"""Fixtures every tier shares: a database, a Redis key prefix and an app environment per test.

Each test gets its own PostgreSQL database, cloned from a template that holds the migrated
schema (cloning takes milliseconds, migrating does not), and its own Redis key prefix, so tests
never see each other's state and may run in any order.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis.asyncio as aioredis

from shared.migrate import apply_migrations
from tests.services import AZURITE_CONNECTION_STRING, POSTGRES_URL, REDIS_URL, require_tcp


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    require_tcp("PostgreSQL", POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> Iterator[str]:
    """A migrated database used only as CREATE DATABASE ... TEMPLATE source."""
    name = f"it_template_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    apply_migrations(_with_database(postgres_admin_url, name))
    yield name
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_factory(postgres_admin_url: str, template_database: str) -> Iterator[Callable[[], str]]:
    """Make fresh, migrated databases for this test alone; all dropped at its end."""
    made: list[str] = []

    def make() -> str:
        name = f"it_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        made.append(name)
        return _with_database(postgres_admin_url, name)

    yield make
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(database_factory: Callable[[], str]) -> str:
    """A fresh, migrated database for this test alone."""
    return database_factory()


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_tcp("Redis", REDIS_URL)
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """This test's own Redis key namespace (the app's REDIS_KEY_PREFIX setting)."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(redis_url: str, redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def azurite_connection_string() -> str:
    from tests.services import AZURITE_BLOB_PORT

    require_tcp("Azurite", AZURITE_BLOB_PORT)
    return AZURITE_CONNECTION_STRING


@pytest.fixture
def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def api_key() -> str:
    return "test-api-key-" + secrets.token_hex(8)


@pytest.fixture
def app_environ(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    azurite_connection_string: str,
    webhook_secret: str,
    api_key: str,
) -> dict[str, str]:
    """A complete, valid settings environment for one test (queues in the test's database)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "AzureWebJobsStorage": azurite_connection_string,
        "DocumentsStorage": azurite_connection_string,
        "DOCUMENTS_CONTAINER": f"docs-{uuid.uuid4().hex[:12]}",
        "ServiceBusConnection": database_url,
        "PORTAL_BASE_URL": "http://127.0.0.1:9",
        "PORTAL_API_KEY": api_key,
        "PORTAL_WEBHOOK_SECRETS": webhook_secret,
        "SYNC_REPLAY_SCHEDULE": "* * * * * *",
    }
