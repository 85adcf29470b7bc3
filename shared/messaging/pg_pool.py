"""One lazily opened connection pool to the local queues, and the error boundary around it.

The pool is created once per sender or receiver and opened on first use inside the running
event loop (a pool belongs to the loop that opened it); opening it also ensures the schema, so
no caller has to remember to. Every psycopg connection failure that crosses this boundary
becomes :class:`DependencyUnavailable`, the transient error the flows retry on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from shared.errors import DependencyUnavailable
from shared.messaging.pg_schema import ensure_schema

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def describe_target(url: str) -> str:
    """``host:port/db`` of a PostgreSQL URL, for messages (never the password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


@asynccontextmanager
async def translate_errors(url: str) -> AsyncIterator[None]:
    """Turn psycopg's connection-level failures into :class:`DependencyUnavailable`."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise DependencyUnavailable(
            f"queue database {describe_target(url)} unavailable: {type(exc).__name__}: {exc}"
        ) from exc


class QueuePool:
    """An :class:`AsyncConnectionPool` on the queue database, opened once on first use."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0) -> None:
        self.url = url
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            kwargs={"connect_timeout": max(1, int(timeout))},
            name="devhost-queues",
        )
        self._opened = False
        self._open_lock = asyncio.Lock()

    async def _open(self) -> None:
        async with self._open_lock:
            if self._opened:
                return
            async with translate_errors(self.url):
                # Not wait=True: a pool whose first wait times out is closed for good.
                await self._pool.open()
                async with self._pool.connection() as conn:
                    await ensure_schema(conn)
            self._opened = True

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection; its transaction commits when the block exits cleanly."""
        if not self._opened:
            await self._open()
        async with translate_errors(self.url), self._pool.connection() as conn:
            yield conn

    async def ping(self) -> None:
        """Raise :class:`DependencyUnavailable` unless the queue database answers."""
        async with self.connection() as conn:
            await conn.execute("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()
        self._opened = False
