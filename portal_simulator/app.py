"""The ASGI application: admin and REST routes in one Starlette app, behind the portal edge.

The lifespan closes the simulator (pending answers, retries, its HTTP client) when the server
stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from portal_simulator import admin_api, rest_api
from portal_simulator.edge import PortalEdge
from portal_simulator.problems import problem
from portal_simulator.simulator import Simulator


async def _http_problem(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer problem+json too, like every other error."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return problem(
        status, "Not Found" if status == 404 else "Method Not Allowed" if status == 405 else "Error"
    )


def build_app(simulator: Simulator) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            simulator.shutting_down.set()
            await simulator.close()

    routes = [*admin_api.ROUTES, *rest_api.ROUTES]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={404: _http_problem, 405: _http_problem}
    )
    app.state.simulator = simulator
    return PortalEdge(
        app,
        state=simulator.state,
        api_key=simulator.config.api_key,
        routes=rest_api.ROUTES,
        shutting_down=simulator.shutting_down,
    )
