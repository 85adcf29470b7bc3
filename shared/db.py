"""The PostgreSQL pool and the translation of psycopg failures into our error hierarchy.

One :class:`AsyncConnectionPool` per worker. Callers use :func:`transaction` and never see a
psycopg ``OperationalError``: a database that cannot be reached (or is lost mid-transaction)
becomes :class:`DependencyUnavailable`, so handlers back off instead of recording a failure.

With ``DATABASE_AUTH=entra`` every new connection, pooled or single (:func:`connect`, for
migrations and operator tools), gets a fresh Entra ID token as its password
(:mod:`shared.db_auth`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal

import psycopg
from psycopg.types.json import set_json_dumps
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from shared.db_auth import AsyncTokenCredential, ConnectionAuth, connection_auth
from shared.errors import DependencyUnavailable


def _json_default(value: object) -> object:
    # Scores arrive as Decimal; numeric columns keep them exact, JSON documents hold numbers.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(value: object) -> str:
    """JSON for jsonb columns: compact, Decimal and datetime aware."""
    return json.dumps(value, default=_json_default, separators=(",", ":"))


set_json_dumps(dumps_json)

# Errors that say "the server or the connection is gone", not "your statement is wrong".
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


_POOL_CONNECTION = {"autocommit": False, "connect_timeout": 3}


class AppPool(AsyncConnectionPool):
    """The app's pool; closing it also closes the credential its connections authenticate with."""

    def __init__(self, url: str, auth: ConnectionAuth, *, min_size: int, max_size: int, name: str) -> None:
        # psycopg_pool calls ``kwargs`` for every connection it opens (3.3: a callable is
        # resolved in ``_connect``), so each one gets its own password when DATABASE_AUTH=entra.
        super().__init__(
            url,
            kwargs=auth,
            min_size=min_size,
            max_size=max_size,
            name=name,
            open=False,
            timeout=5.0,
            max_idle=300,
            check=AsyncConnectionPool.check_connection,
        )
        self._auth = auth

    async def close(self, timeout: float = 5.0) -> None:
        await super().close(timeout)
        await self._auth.close()


async def create_pool(
    url: str,
    *,
    auth: str = "password",
    credential: AsyncTokenCredential | None = None,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "app",
) -> AsyncConnectionPool:
    """Open a pool without waiting: a database that is down at start must not stop the worker.

    ``auth`` is the ``DATABASE_AUTH`` setting; ``credential`` replaces ``DefaultAzureCredential``
    (tests, or a caller that already holds one).
    """
    pool = AppPool(
        url,
        # application_name lets an operator (and the tests) see whose connections these are.
        connection_auth(
            auth,
            {**_POOL_CONNECTION, "application_name": f"portal-integration:{name}"},
            credential=credential,
        ),
        min_size=min_size,
        max_size=max_size,
        name=name,
    )
    await pool.open(wait=False)
    return pool


@asynccontextmanager
async def connect(
    url: str,
    *,
    auth: str = "password",
    credential: AsyncTokenCredential | None = None,
    autocommit: bool = True,
) -> AsyncIterator[psycopg.AsyncConnection]:
    """One connection outside any pool (migrations, operator commands), closed on exit.

    Authenticates as the app's pool does; a database or token that cannot be had is
    :class:`DependencyUnavailable`.
    """
    conn_auth = connection_auth(auth, {"autocommit": autocommit, "connect_timeout": 5}, credential=credential)
    try:
        try:
            conn = await psycopg.AsyncConnection.connect(url, **await conn_auth())
        except _UNAVAILABLE as exc:
            raise DependencyUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}: {exc}") from exc
        async with conn:
            yield conn
    finally:
        await conn_auth.close()


@asynccontextmanager
async def transaction(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection inside one transaction: committed on success, rolled back on any error."""
    try:
        async with pool.connection() as conn, conn.transaction():
            yield conn
    except _UNAVAILABLE as exc:
        raise DependencyUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc


__all__ = ["AppPool", "connect", "create_pool", "dumps_json", "transaction"]
