"""devhost fixtures: run a Host in-process on a free port, against this test's database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.host import Host, HostOptions


@pytest.fixture
def queue_environ(database_url: str) -> dict[str, str]:
    return {"ServiceBusConnection": database_url}


@pytest.fixture
def run_host(tmp_path: Path) -> Callable[..., Any]:
    """``async with run_host(app, environ, **options) as host``: started, then stopped."""

    @asynccontextmanager
    async def run(app: Any, environ: dict[str, str], **options: Any) -> AsyncIterator[Host]:
        defaults: dict[str, Any] = {
            "script_root": tmp_path,
            "port": 0,
            "lock_duration": timedelta(seconds=2),
            "shutdown_grace": 5.0,
            "poll_interval": 0.2,
        }
        host = Host.from_app(HostOptions(**{**defaults, **options}), app, environ)
        await host.start()
        try:
            yield host
        finally:
            await host.stop()

    return run


@pytest.fixture(autouse=True)
def _devhost_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="devhost")
