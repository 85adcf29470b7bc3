"""DATABASE_AUTH=entra: an Entra ID token is the password of every new connection.

Entra cannot be reached from a test, so the credential is a fake with the SDK's shape that hands
out tokens and counts the requests; everything after it is real: psycopg_pool, psycopg, and a
PostgreSQL server that checks passwords (the shared local server trusts 127.0.0.1 and would
accept any password). A token "expires" by the test changing the role's password to the next
token, as Entra's next token replaces the last.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from azure.core.exceptions import ClientAuthenticationError

from shared.db import connect, create_pool, transaction
from shared.db_auth import POSTGRES_ENTRA_SCOPE
from shared.errors import DependencyUnavailable
from shared.migrate import apply_migrations, discover
from tests.support.auth_servers import ScratchPostgres, scratch_postgres

# The role Azure creates for a managed identity is named after the identity (the app's name).
APP_ROLE = "func-portal-integration"


@dataclass
class Token:
    token: str
    expires_on: int = 0


class FakeCredential:
    """``azure.identity.aio.DefaultAzureCredential``'s shape: counts token requests per scope."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, ...]] = []
        self.current = _new_token()
        self.failure: Exception | None = None
        self.closed = False

    async def get_token(self, *scopes: str) -> Token:
        self.requests.append(scopes)
        if self.failure is not None:
            raise self.failure
        return Token(self.current)

    async def close(self) -> None:
        self.closed = True

    def rotate(self) -> str:
        self.current = _new_token()
        return self.current


def _new_token() -> str:
    # Entra access tokens are JWTs of 1.5 to 2.5 KB: the password must pass whole.
    return "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(1500)


def _set_password(server: ScratchPostgres, role: str, password: str) -> None:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                psycopg.sql.Identifier(role), psycopg.sql.Literal(password)
            )
        )


@pytest.fixture(scope="module")
def server() -> Iterator[ScratchPostgres]:
    with scratch_postgres() as running:
        yield running


@pytest.fixture
def app_database(server: ScratchPostgres) -> Iterator[str]:
    """A database owned by the app's role (so migrations may create tables); its URL has no password."""
    name = f"entra_{secrets.token_hex(4)}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')
        conn.execute(f'CREATE ROLE "{APP_ROLE}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{APP_ROLE}"')
    yield server.url(APP_ROLE, name)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')


@pytest.fixture
def credential(server: ScratchPostgres, app_database: str) -> FakeCredential:
    fake = FakeCredential()
    _set_password(server, APP_ROLE, fake.current)
    return fake


async def test_the_server_refuses_a_wrong_password(app_database: str) -> None:
    # Without this, the tests below could pass against a server that ignores passwords.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await psycopg.AsyncConnection.connect(app_database, password="not-the-token")


async def test_the_pool_logs_in_with_the_token_for_the_postgres_scope(
    app_database: str, credential: FakeCredential
) -> None:
    pool = await create_pool(app_database, auth="entra", credential=credential, min_size=1)
    try:
        async with transaction(pool) as conn:
            row = await (await conn.execute("SELECT current_user")).fetchone()
        assert row == (APP_ROLE,)
        # One token per connection the pool opened (it may open a second while the first warms).
        opened = pool.get_stats()["connections_num"]
        assert credential.requests == [(POSTGRES_ENTRA_SCOPE,)] * opened
    finally:
        await pool.close()
    assert credential.closed  # the pool owns its credential


async def test_each_new_connection_gets_the_current_token_so_an_expired_one_is_never_reused(
    server: ScratchPostgres, app_database: str, credential: FakeCredential
) -> None:
    first = credential.current
    pool = await create_pool(app_database, auth="entra", credential=credential, min_size=1, max_size=2)
    try:
        await pool.wait()
        async with transaction(pool) as held:
            await held.execute("SELECT 1")
            requests_before = len(credential.requests)
            # The first token expires: the server now takes only the next one.
            _set_password(server, APP_ROLE, credential.rotate())
            with pytest.raises(psycopg.OperationalError):
                await psycopg.AsyncConnection.connect(app_database, password=first)
            # A second connection must be opened while the first is held: it logs in.
            async with transaction(pool) as second:
                row = await (
                    await second.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = current_user")
                ).fetchone()
            # The connection opened with the old token keeps working: PostgreSQL checks a
            # password only when a connection opens.
            await held.execute("SELECT 1")
        assert row == (2,)
        assert len(credential.requests) == requests_before + 1 == pool.get_stats()["connections_num"]
    finally:
        await pool.close()


async def test_a_password_pool_asks_for_no_token(app_database: str, credential: FakeCredential) -> None:
    url = app_database.replace(f"{APP_ROLE}@", f"{APP_ROLE}:{credential.current}@")
    pool = await create_pool(url, auth="password", min_size=1)
    try:
        async with transaction(pool) as conn:
            await conn.execute("SELECT 1")
    finally:
        await pool.close()
    assert credential.requests == []


async def test_a_single_connection_for_operator_tools_uses_the_token(
    app_database: str, credential: FakeCredential
) -> None:
    async with connect(app_database, auth="entra", credential=credential) as conn:
        row = await (await conn.execute("SELECT current_user")).fetchone()
    assert row == (APP_ROLE,)
    assert credential.requests == [(POSTGRES_ENTRA_SCOPE,)]
    assert credential.closed


async def test_no_token_is_a_transient_error_naming_the_setting(
    app_database: str, credential: FakeCredential
) -> None:
    credential.failure = ClientAuthenticationError("ManagedIdentityCredential: no identity")
    with pytest.raises(DependencyUnavailable, match="DATABASE_AUTH=entra") as caught:
        async with connect(app_database, auth="entra", credential=credential):
            pass
    assert caught.value.transient
    assert credential.current not in str(caught.value)


def test_migrations_run_as_the_entra_principal(app_database: str, credential: FakeCredential) -> None:
    applied = apply_migrations(app_database, auth="entra", credential=credential)
    assert [m.version for m in applied] == [m.version for m in discover()]
    assert credential.requests == [(POSTGRES_ENTRA_SCOPE,)]
    with psycopg.connect(app_database, password=credential.current) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'webhook_events'").fetchone()
    assert owner == (APP_ROLE,)
