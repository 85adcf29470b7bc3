"""End-to-end fixtures: the real function app under devhost, in this process, on an ephemeral
port, with a real portal simulator, this test's own database, queues and Redis prefix."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from devhost.host import Host, HostOptions
from portal_simulator.testing import RunningSimulator, running_simulator
from shared.runtime import close_runtime
from tests.support.function_app import fresh_app

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass
class RunningApp:
    base_url: str
    http: httpx.AsyncClient
    host: Host
    database_url: str
    portal: RunningSimulator
    secret: str

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    async def eventually(self, probe: Callable[[], T | Awaitable[T]], *, timeout: float = 15.0) -> T:
        """Poll ``probe`` until it returns something truthy; fail with its last value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = probe()
            if asyncio.iscoroutine(value):
                value = await value
            if value or asyncio.get_running_loop().time() > deadline:
                assert value, f"condition not met within {timeout} s (last value: {value!r})"
                return value  # type: ignore[return-value]
            await asyncio.sleep(0.05)


@pytest.fixture
async def portal(api_key, webhook_secret) -> AsyncIterator[RunningSimulator]:
    async with running_simulator(
        api_key=api_key, webhook_secrets=webhook_secret, ats_url="http://127.0.0.1:9/api/portal/webhooks"
    ) as sim:
        yield sim


@pytest.fixture
def start_app(app_environ, portal, webhook_secret, database_url, monkeypatch):
    """Start the app under devhost with these setting overrides (one app per test)."""

    @asynccontextmanager
    async def start(**overrides: str) -> AsyncIterator[RunningApp]:
        environ = {**app_environ, "PORTAL_BASE_URL": portal.base_url, **overrides}
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        await close_runtime()
        options = HostOptions(
            script_root=ROOT,
            port=0,
            shutdown_grace=5.0,
            poll_interval=0.2,
            lock_duration=timedelta(seconds=30),
        )
        host = Host.from_app(options, fresh_app(), os.environ)
        await host.start()
        assert host.http is not None
        base_url = f"http://127.0.0.1:{host.http.port}"
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                yield RunningApp(base_url, http, host, database_url, portal, webhook_secret)
        finally:
            await host.stop()
            await close_runtime()

    return start


@pytest.fixture
async def running_app(start_app) -> AsyncIterator[RunningApp]:
    async with start_app() as app:
        yield app
