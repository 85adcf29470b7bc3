"""The optional malware-scan hook of verification: off unless a setting names a scanner.

* ``DOCUMENT_SCAN_COMMAND``: a command line (split like a shell would, never run by one) that
  gets the document's bytes on its standard input and answers by exit code, as ClamAV's
  ``clamscan -`` / ``clamdscan -`` do: **0** clean, **1** infected, anything else an error. Its
  output is discarded (it may quote the file).
* ``DOCUMENT_SCAN_URL``: the bytes are POSTed (``application/octet-stream``, streamed); the
  answer is 200 with ``{"clean": true}`` or ``{"clean": false, "threat": "name"}``.

A scanner that errs, times out, cannot be started or answers anything else is
:class:`~shared.errors.DependencyUnavailable`: the verification waits and retries (DESIGN.md's
backoff, parked with an alert after 24 h), since a document must not be called clean because
the scanner was down, nor infected because it crashed.

Bytes are fed while they stream from Blob Storage (:meth:`ScanSession.feed`), so the scanner
never needs the whole file in our memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import httpx

from shared.errors import DependencyUnavailable

SCAN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class ScanResult:
    clean: bool
    threat: str | None = None


class ScanSession(Protocol):
    async def feed(self, chunk: bytes) -> None: ...

    async def finish(self) -> ScanResult: ...

    async def abort(self) -> None: ...


class Scanner(Protocol):
    @property
    def enabled(self) -> bool: ...

    async def start(self) -> ScanSession: ...


class _NoSession:
    async def feed(self, chunk: bytes) -> None:
        return None

    async def finish(self) -> ScanResult:
        return ScanResult(clean=True)

    async def abort(self) -> None:
        return None


class NoScanner:
    """The default: no scan hook configured."""

    enabled = False

    async def start(self) -> ScanSession:
        return _NoSession()


#: Exit code of the scan command → result (others are errors).
EXIT_CODES: dict[int, ScanResult] = {
    0: ScanResult(clean=True),
    1: ScanResult(clean=False, threat="scan command exit code 1"),
}


class _CommandSession:
    def __init__(self, process: asyncio.subprocess.Process, timeout: float) -> None:
        self._process = process
        self._timeout = timeout
        self._stdin_open = True

    async def feed(self, chunk: bytes) -> None:
        stdin = self._process.stdin
        if not self._stdin_open or stdin is None:
            return
        try:
            stdin.write(chunk)
            await asyncio.wait_for(stdin.drain(), self._timeout)
        except (BrokenPipeError, ConnectionResetError):
            self._stdin_open = False  # the scanner stopped reading (it decided early): ask its code
        except TimeoutError:
            await self.abort()
            raise DependencyUnavailable("scan command stopped reading its input (timeout)") from None

    async def finish(self) -> ScanResult:
        stdin = self._process.stdin
        if stdin is not None and self._stdin_open:
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()
        try:
            code = await asyncio.wait_for(self._process.wait(), self._timeout)
        except TimeoutError:
            await self.abort()
            raise DependencyUnavailable("scan command did not finish in time") from None
        result = EXIT_CODES.get(code)
        if result is None:
            raise DependencyUnavailable(f"scan command failed (exit code {code})")
        return result

    async def abort(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()


class CommandScanner:
    enabled = True

    def __init__(self, command: str, *, timeout: float = SCAN_TIMEOUT_SECONDS) -> None:
        self._argv = shlex.split(command)
        self._timeout = timeout

    async def start(self) -> ScanSession:
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise DependencyUnavailable(f"scan command could not start ({type(exc).__name__})") from exc
        return _CommandSession(process, self._timeout)


_END = b""


class _UrlSession:
    def __init__(self, client: httpx.AsyncClient, url: str, timeout: float) -> None:
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=2)
        self._timeout = timeout
        self._answer = asyncio.create_task(
            client.post(
                url,
                content=self._body(),
                headers={"content-type": "application/octet-stream"},
                timeout=timeout,
            )
        )

    async def _body(self) -> AsyncIterator[bytes]:
        while chunk := await self._queue.get():
            yield chunk

    async def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        put = asyncio.create_task(self._queue.put(chunk))
        done, _ = await asyncio.wait({put, self._answer}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:  # the scanner answered (or failed) before taking the whole body
            put.cancel()

    async def finish(self) -> ScanResult:
        if not self._answer.done():
            put = asyncio.create_task(self._queue.put(_END))
            await asyncio.wait({put, self._answer}, return_when=asyncio.FIRST_COMPLETED)
            put.cancel()
        try:
            response = await self._answer
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(f"scan service unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise DependencyUnavailable(f"scan service answered {response.status_code}")
        try:
            body = json.loads(response.content)
            clean = body["clean"]
        except (ValueError, KeyError, TypeError):
            raise DependencyUnavailable("scan service answered without a 'clean' verdict") from None
        if not isinstance(clean, bool):
            raise DependencyUnavailable("scan service answered a 'clean' that is not true or false")
        threat = body.get("threat")
        return ScanResult(clean=clean, threat=str(threat) if threat is not None and not clean else None)

    async def abort(self) -> None:
        self._answer.cancel()
        with contextlib.suppress(BaseException):
            await self._answer


class UrlScanner:
    enabled = True

    def __init__(self, url: str, client: httpx.AsyncClient, *, timeout: float = SCAN_TIMEOUT_SECONDS) -> None:
        self._url = url
        self._client = client
        self._timeout = timeout

    async def start(self) -> ScanSession:
        return _UrlSession(self._client, self._url, self._timeout)


def create_scanner(command: str | None, url: str | None, client: httpx.AsyncClient) -> Scanner:
    """The scanner the settings name (the command wins when both are set), or none."""
    if command:
        return CommandScanner(command)
    if url:
        return UrlScanner(url, client)
    return NoScanner()
