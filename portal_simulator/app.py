"""The ASGI application: admin and REST routes in one Starlette app, behind the portal edge.

The lifespan closes the simulator (pending answers, retries, its HTTP client) when the server
stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp

from portal_simulator import admin_api, rest_api
from portal_simulator.edge import PortalEdge
from portal_simulator.simulator import Simulator


def build_app(simulator: Simulator) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            simulator.shutting_down.set()
            await simulator.close()

    routes = [*admin_api.ROUTES, *rest_api.ROUTES]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.simulator = simulator
    return PortalEdge(
        app,
        state=simulator.state,
        api_key=simulator.config.api_key,
        routes=rest_api.ROUTES,
        shutting_down=simulator.shutting_down,
    )
