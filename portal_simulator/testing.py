"""A simulator for tests, on an ephemeral port of 127.0.0.1, started and stopped in one line.

    async with running_simulator(SimulatorConfig(ats_url=receiver_url)) as portal:
        candidate = await portal.admin.seed_candidate()
        async with portal.rest_client() as client:           # bearer key already set
            r = await client.get(f"/v1/candidates/{candidate['id']}")
        stats = await portal.admin.stats()

:func:`running_simulator` serves in the current event loop (use async HTTP clients from the
test); :func:`running_simulator_in_thread` serves from a thread with its own loop, for
synchronous tests (use its blocking ``admin``; do not touch ``state`` while it runs).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import uvicorn

from portal_simulator.admin_client import AdminClient, AsyncAdminClient
from portal_simulator.clock import Clock, system_clock
from portal_simulator.config import SimulatorConfig
from portal_simulator.server import bind, make_server
from portal_simulator.simulator import Simulator
from portal_simulator.state import SimulatorState

_HOST = "127.0.0.1"


@dataclasses.dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A started simulator: its URL, an admin client, and direct access to its memory."""

    simulator: Simulator
    base_url: str
    admin: AsyncAdminClient

    @property
    def state(self) -> SimulatorState:
        return self.simulator.state

    @property
    def config(self) -> SimulatorConfig:
        return self.simulator.config

    def rest_client(self, *, api_key: str | None = None, **options: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on ``base_url`` sending ``Authorization: Bearer`` (this key by
        default); close it (``async with``)."""
        headers = {"authorization": f"Bearer {api_key or self.config.api_key}", **options.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, **options)


@dataclasses.dataclass(frozen=True, slots=True)
class ThreadedSimulator:
    """A simulator served from a thread; ``admin`` blocks."""

    simulator: Simulator
    base_url: str
    admin: AdminClient

    @property
    def config(self) -> SimulatorConfig:
        return self.simulator.config


def _prepare(config: SimulatorConfig | None, overrides: dict[str, Any]) -> tuple[SimulatorConfig, Any]:
    config = dataclasses.replace(config or SimulatorConfig(), **overrides)
    sock = bind(_HOST, 0)
    port = sock.getsockname()[1]
    return dataclasses.replace(config, host=_HOST, port=port), sock


async def _start(server: uvicorn.Server, sock: Any) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the simulator stopped while starting")
        await asyncio.sleep(0.01)
    return task


@asynccontextmanager
async def running_simulator(
    config: SimulatorConfig | None = None,
    *,
    clock: Clock = system_clock,
    data_rng: random.Random | None = None,
    fault_rng: random.Random | None = None,
    **overrides: Any,
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator in this event loop on ``127.0.0.1:<ephemeral>``.

    ``overrides`` replace fields of ``config`` (e.g. ``ats_url=...``); ``clock`` and the random
    sources are injected (seed ``data_rng`` for reproducible data, ``fault_rng`` for faults).
    """
    config, sock = _prepare(config, overrides)
    simulator = Simulator(config, clock=clock, data_rng=data_rng, fault_rng=fault_rng)
    server = make_server(simulator, graceful_seconds=1)
    task = await _start(server, sock)
    base_url = f"http://{_HOST}:{config.port}"
    try:
        async with AsyncAdminClient(base_url) as admin:
            yield RunningSimulator(simulator, base_url, admin)
    finally:
        simulator.shutting_down.set()
        server.should_exit = True
        await task
        sock.close()


@contextmanager
def running_simulator_in_thread(
    config: SimulatorConfig | None = None, **overrides: Any
) -> Iterator[ThreadedSimulator]:
    """Serve a simulator from a background thread (its own event loop), for synchronous tests."""
    config, sock = _prepare(config, overrides)
    simulator = Simulator(config)
    server = make_server(simulator, graceful_seconds=1)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="portal-simulator", daemon=True
    )
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the simulator stopped while starting")
        threading.Event().wait(0.01)
    base_url = f"http://{_HOST}:{config.port}"
    try:
        with AdminClient(base_url) as admin:
            yield ThreadedSimulator(simulator, base_url, admin)
    finally:
        server.should_exit = True  # held calls end with the graceful-shutdown timeout (1 s)
        thread.join(timeout=10)
        sock.close()
