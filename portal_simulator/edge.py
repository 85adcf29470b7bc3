"""The outermost layer of the REST API: counts every call, injects faults, checks the bearer key.

Order for a call to ``/v1/*``: faults decided (latency added; a ``before`` fault answers at
once), then ``Authorization: Bearer`` (401 problem+json), then the route; an ``after`` fault
lets the route do its work and replaces the answer. ``/admin/*`` passes straight through: no
key, no faults, not counted.

A ``reset`` closes the TCP connection with a RST and no answer; it needs the server's transport,
which uvicorn's HTTP/1.1 protocol exposes as the owner of the ASGI ``send`` callable.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
import struct
from collections.abc import Sequence
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_simulator.faults import FaultRule
from portal_simulator.problems import problem
from portal_simulator.rest_api import CORRUPT_DOCUMENT, OVERSIZE_DOCUMENT
from portal_simulator.state import SimulatorState


def _transport_of(send: Send) -> asyncio.Transport | None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


class _StatusRecorder:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.replayed = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.replayed = any(name.lower() == b"idempotent-replayed" for name, _ in message["headers"])
        await self._send(message)


class _StreamCut(Exception):
    """Raised through the app once a ``cut_document`` fault has reset the connection."""


class _CuttingSend:
    """Passes a response through until ``cut_after`` body bytes (default: half the declared
    length), then resets the connection: the client sees a head and part of a body, then a
    broken connection."""

    def __init__(self, send: Send, transport: asyncio.Transport | None, cut_after: int | None) -> None:
        self._send = send
        self._transport = transport
        self._cut_after = cut_after
        self._sent = 0
        self.cut = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self._cut_after is None:
            length = dict(message.get("headers", [])).get(b"content-length", b"0")
            self._cut_after = int(length) // 2
        if message["type"] != "http.response.body" or self._cut_after is None:
            await self._send(message)
            return
        body = message.get("body", b"")
        room = self._cut_after - self._sent
        if len(body) < room:
            self._sent += len(body)
            await self._send(message)
            return
        if room > 0:
            await self._send({"type": "http.response.body", "body": body[:room], "more_body": True})
        self.cut = True
        await _reset(self._transport)
        raise _StreamCut


async def _discard(message: Message) -> None:
    """The ``send`` of a call whose answer an ``after`` fault replaces."""


class PortalEdge:
    """ASGI middleware around the Starlette app; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: SimulatorState,
        api_key: str,
        routes: Sequence[BaseRoute],
        shutting_down: asyncio.Event,
    ) -> None:
        self._app = app
        self._state = state
        self._expected = f"Bearer {api_key}".encode()
        self._routes = routes
        self._shutting_down = shutting_down

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key")
        recorder = _StatusRecorder(send)
        try:
            result = await self._serve(scope, receive, recorder, _transport_of(send), headers)
        except ClientDisconnect:
            # The client went away before its body was read (a killed worker): nothing was done.
            result = "disconnected"
        self._state.stats.record_call(
            scope["method"],
            self._template(scope),
            result or str(recorder.status),
            key.decode("latin-1") if key is not None else None,
            replayed=recorder.replayed,
        )

    def _template(self, scope: Scope) -> str:
        for route in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", scope["path"]))
        return str(scope["path"])

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        transport: asyncio.Transport | None,
        headers: dict[bytes, bytes],
    ) -> str | None:
        """Handle one call; returns ``reset``/``timeout`` when no status was sent (and the caller
        records ``disconnected`` when the client left before the body could be read)."""
        faults = self._state.faults.for_request(scope["path"])
        for kind in faults.fired:
            self._state.stats.record_fault(kind)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        rule = faults.terminal
        if rule is not None and rule.phase == "before":
            return await self._inject(rule, scope, receive, send, transport)
        if faults.corrupt_document:
            scope[CORRUPT_DOCUMENT] = True
        if faults.oversize_document is not None:
            scope[OVERSIZE_DOCUMENT] = faults.oversize_document.extra_bytes
        cutting: _CuttingSend | None = None
        if faults.cut_document is not None:
            send = cutting = _CuttingSend(send, transport, faults.cut_document.cut_after_bytes)
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            await problem(
                401,
                "Unauthorized",
                detail="a valid Authorization: Bearer key is required",
                headers={"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return None
        if rule is None:
            with contextlib.suppress(_StreamCut):
                await self._app(scope, receive, send)
            return "cut" if cutting is not None and cutting.cut else None
        await self._app(scope, receive, _discard)
        return await self._inject(rule, scope, receive, send, transport)

    async def _inject(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send, transport: asyncio.Transport | None
    ) -> str | None:
        retry_after = {"Retry-After": str(rule.retry_after_seconds)}
        if rule.kind == "error_500":
            await problem(500, "Internal Server Error", detail="injected fault")(scope, receive, send)
        elif rule.kind == "error_503":
            await problem(503, "Service Unavailable", detail="injected fault", headers=retry_after)(
                scope, receive, send
            )
        elif rule.kind == "error_401":
            await problem(
                401, "Unauthorized", detail="injected fault", headers={"WWW-Authenticate": "Bearer"}
            )(scope, receive, send)
        elif rule.kind == "error_429":
            await problem(429, "Too Many Requests", detail="injected fault", headers=retry_after)(
                scope, receive, send
            )
        elif rule.kind == "timeout":
            if await self._hang(receive, rule.hang_seconds):
                return "timeout"
            await problem(504, "Gateway Timeout", detail="injected fault")(scope, receive, send)
        elif rule.kind == "reset":
            return await _reset(transport)
        elif rule.kind == "redirect":
            await Response(status_code=302, headers={"location": rule.location})(scope, receive, send)
        return None

    async def _hang(self, receive: Receive, seconds: float) -> bool:
        """Hold the call ``seconds``; True when the client gave up (or the server stops) first."""

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters: list[asyncio.Task[Any]] = [
            asyncio.create_task(until_disconnect()),
            asyncio.create_task(self._shutting_down.wait()),
        ]
        done, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return bool(done)


async def _reset(transport: asyncio.Transport | None) -> str:
    if transport is None:
        raise ConnectionAbortedError("injected reset: the server does not expose its transport")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(3):  # let the server see the connection is gone, so it sends nothing more
        await asyncio.sleep(0)
    return "reset"
