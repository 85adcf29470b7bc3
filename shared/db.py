"""The PostgreSQL pool and the translation of psycopg failures into our error hierarchy.

One :class:`AsyncConnectionPool` per worker. Callers use :func:`transaction` and never see a
psycopg ``OperationalError``: a database that cannot be reached (or is lost mid-transaction)
becomes :class:`DependencyUnavailable`, so handlers back off instead of recording a failure.
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


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, name: str = "app"
) -> AsyncConnectionPool:
    """Open a pool without waiting: a database that is down at start must not stop the worker."""
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        timeout=5.0,
        max_idle=300,
        check=AsyncConnectionPool.check_connection,
        # application_name lets an operator (and the tests) see whose connections these are.
        kwargs={"autocommit": False, "connect_timeout": 3, "application_name": f"portal-integration:{name}"},
    )
    await pool.open(wait=False)
    return pool


@asynccontextmanager
async def transaction(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection inside one transaction: committed on success, rolled back on any error."""
    try:
        async with pool.connection() as conn, conn.transaction():
            yield conn
    except _UNAVAILABLE as exc:
        raise DependencyUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}") from exc


__all__ = ["create_pool", "dumps_json", "transaction"]
