"""HTTP triggers on ``http://127.0.0.1:7071/{routePrefix}/...``: a small HTTP/1.1 server.

The webhook endpoint is benchmarked, so this is a lean asyncio-streams server rather than a
framework stack (no httptools is installed, and h11 would dominate the cost): keep-alive,
``Content-Length`` and chunked bodies, ``Expect: 100-continue``, and a literal route found with
one dict look-up. Each request becomes a real ``azure.functions.HttpRequest`` (method, url,
headers, params, route_params, body) and the returned ``HttpResponse`` becomes the answer.

As Core Tools does locally, no function key is demanded whatever the auth level. Unknown route
→ 404; known route, wrong method → 405 with ``Allow``; an exception in the function → 500 and
the traceback logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

import azure.functions as func

from devhost.discovery import HttpFunction
from devhost.invoke import Invoker, log_invocation
from devhost.routes import RouteTable, compile_route

log = logging.getLogger("devhost.http")

#: The Functions host's request size limit.
DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024
_HEADER_LIMIT = 64 * 1024
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class BadRequest(Exception):
    """The request cannot be parsed; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []


def to_response(result: object) -> Response:
    """What the worker does with a function's return value."""
    if isinstance(result, func.HttpResponse):
        headers = list(result.headers.items())
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", f"{result.mimetype}; charset={result.charset}"))
        return Response(result.status_code, result.get_body(), headers)
    if result is None:
        return Response(204)
    if isinstance(result, str | bytes):
        body = result.encode() if isinstance(result, str) else result
        return Response(200, body, [("Content-Type", "text/plain; charset=utf-8")])
    raise TypeError(f"an HTTP function returned {type(result).__name__}, not an HttpResponse")


def _plain(status: int, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("Content-Type", "text/plain; charset=utf-8"), *(extra or [])]
    return Response(status, _REASONS.get(status, "").encode(), headers)


class HttpServer:
    """Serves the HTTP-triggered functions until :meth:`stop`."""

    def __init__(
        self,
        functions: list[HttpFunction],
        invoker: Invoker,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        route_prefix: str = "api",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.functions = functions
        self.invoker = invoker
        self.host = host
        self.port = port
        self.prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.max_body_bytes = max_body_bytes
        self.table = RouteTable([compile_route(f.route, f) for f in functions])
        self._server: asyncio.Server | None = None
        self._idle: set[asyncio.StreamWriter] = set()
        self._busy = 0
        self._drained = asyncio.Event()
        self._closing = False

    def url(self, function: HttpFunction) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}/{function.route}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=_HEADER_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, grace: float) -> None:
        """Stop accepting, close idle keep-alive connections, let running requests finish."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._idle):
            writer.close()
        if self._busy:
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._idle.add(writer)
        try:
            while not self._closing:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._write(writer, _plain(431), "GET", keep_alive=False)
                    return
                self._idle.discard(writer)
                self._busy += 1
                try:
                    keep_alive = await self._one(reader, writer, head)
                finally:
                    self._busy -= 1
                    if not self._busy:
                        self._drained.set()
                if not keep_alive:
                    return
                self._idle.add(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._idle.discard(writer)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> bool:
        try:
            method, target, version, headers = _parse_head(head)
        except BadRequest as exc:
            await self._write(writer, _plain(exc.status), "GET", keep_alive=False)
            return False
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
        try:
            body = await self._body(reader, writer, headers)
        except BadRequest as exc:
            await self._write(writer, _plain(exc.status), method, keep_alive=False)
            return False
        response = await self._dispatch(method, target, headers, body)
        keep_alive = keep_alive and not self._closing
        await self._write(writer, response, method, keep_alive=keep_alive)
        return keep_alive

    async def _body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> bytes:
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length_header = headers.get("content-length")
        if not chunked and not length_header:
            return b""
        length = 0
        if not chunked:
            if not length_header or not length_header.isdigit():
                raise BadRequest(400, "bad Content-Length")
            length = int(length_header)
            if length > self.max_body_bytes:
                raise BadRequest(413, "body too large")
            if length == 0:
                return b""
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not chunked:
            return await reader.readexactly(length)
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, "bad chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers are ignored
                return b"".join(parts)
            total += size
            if total > self.max_body_bytes:
                raise BadRequest(413, "body too large")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        raw_path, _, query = target.partition("?")
        if self.prefix:
            if not (raw_path == self.prefix or raw_path.startswith(self.prefix + "/")):
                return _plain(404)
            raw_path = raw_path[len(self.prefix) :]
        path = unquote(raw_path) or "/"
        allowed: set[str] = set()
        chosen: HttpFunction | None = None
        route_params: dict[str, str] = {}
        for route, params in self.table.candidates(path):
            function = route.handler
            if function.methods is None or method in function.methods:
                chosen, route_params = function, params
                break
            allowed |= function.methods
        if chosen is None:
            if allowed:
                return _plain(405, [("Allow", ", ".join(sorted(allowed)))])
            return _plain(404)
        request = func.HttpRequest(
            method,
            f"http://{headers.get('host', f'{self.host}:{self.port}')}{target}",
            headers=headers,
            params=dict(parse_qsl(query, keep_blank_values=True)),
            route_params=route_params,
            body=body,
        )
        started = time.perf_counter()
        try:
            response = to_response(await self.invoker.call(chosen.target, request))
        except Exception:
            log.exception("Function '%s' raised; answering 500", chosen.target.name)
            log_invocation(chosen.target, "httpTrigger", started, "Failed", f"{method} -> 500")
            return _plain(500)
        log_invocation(chosen.target, "httpTrigger", started, "Succeeded", f"{method} -> {response.status}")
        return response

    async def _write(
        self, writer: asyncio.StreamWriter, response: Response, method: str, *, keep_alive: bool
    ) -> None:
        body = b"" if method == "HEAD" else response.body
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}"]
        lines.extend(
            f"{name}: {value}" for name, value in response.headers if name.lower() != "content-length"
        )
        lines.append(f"Content-Length: {len(response.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Request line and headers; repeated headers are joined with ``, `` (names lower-cased)."""
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text[:-4].split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise BadRequest(400, "malformed request line") from None
    if not version.startswith("HTTP/1.") or not target.startswith("/"):
        raise BadRequest(400, "unsupported request")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method.upper(), target, version, headers
