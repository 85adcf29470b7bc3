"""A tiny ATS stand-in for the simulator's tests: records every delivery and answers with the
statuses a test queues (202 when none is queued), on an ephemeral port of 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.local_server import serving


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    responder: Callable[[Received], Response] | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/portal/webhooks"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")
            await asyncio.sleep(0.01)
        return self.received


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def receive(request: Request) -> Response:
        item = Received(request.url.path, dict(request.headers), await request.body())
        receiver.received.append(item)
        if receiver.responder is not None:
            return receiver.responder(item)
        status = receiver.statuses.pop(0) if receiver.statuses else 202
        return JSONResponse({"status": status}, status_code=status)

    app = Starlette(routes=[Route("/api/portal/{rest:path}", receive, methods=["POST"])])
    async with serving(app) as base_url:
        receiver.base_url = base_url
        yield receiver
