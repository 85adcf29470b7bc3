"""The portal's ``GET /v1/documents/{id}/content``, streamed, never trusted.

A companion of :class:`~shared.portal_client.PortalClient` for the one call that returns a
body too large to hold: it shares the portal's circuit breaker and secret store (the runtime
hands both), and answers map onto the same errors (portal-contract.md §2):

* 408, 429, 5xx, timeouts and broken connections, also in the middle of the body, are
  :class:`~shared.errors.PortalUnavailable` (``Retry-After`` carried) and count towards the
  breaker; while it is open no call is made (:class:`~shared.errors.CircuitOpen`);
* 401 and 403 refresh the API key once (at most once a minute, :class:`SecretStore`) and try
  again; if the portal still refuses, :class:`~shared.errors.PortalRejected` with that status
  (the transfer treats it as "wait and alert", DESIGN.md's rule for our credential);
* any other status from 300 up, redirects included (never followed), is
  :class:`~shared.errors.PortalRejected`;
* what the URL, the address or the size make unacceptable is
  :class:`~shared.errors.DocumentRefused`, before anything is read when it can be known:
  a URL not under ``PORTAL_BASE_URL`` (checked again here, with the receiver's own check), an
  address :class:`~shared.documents.addresses.AddressPolicy` refuses (the client's transport
  pins it), a ``Content-Length`` above ``DOCUMENT_MAX_BYTES`` or different from the event's
  size, an encoded body (``Accept-Encoding: identity`` is asked: the event's size and sha256
  are of the file's own bytes). A body longer than declared is cut off as soon as it passes
  the event's size, which is never above the limit.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from shared.circuit_breaker import CircuitBreaker
from shared.contract.fields import is_under_base_url
from shared.errors import DocumentRefused, PortalRejected, PortalUnavailable
from shared.portal_client import TRANSIENT_STATUSES, parse_retry_after
from shared.secrets import PORTAL_API_KEY, SecretStore

Probe = Callable[[], Awaitable[bool]]

_CREDENTIAL_STATUSES = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class OpenedDocument:
    """A 200 answer whose body has not been read yet."""

    content_type: str | None
    content_length: int | None
    duration_ms: int
    chunks: AsyncIterator[bytes]


class DocumentDownloader:
    def __init__(
        self,
        http: httpx.AsyncClient,
        secrets: SecretStore,
        *,
        breaker: CircuitBreaker | None,
        probe: Probe,
        portal_base_url: str,
    ) -> None:
        self._http = http
        self._secrets = secrets
        self._breaker = breaker
        self._probe = probe
        self._base_url = portal_base_url

    @asynccontextmanager
    async def open(self, url: str, *, expected_size: int, max_bytes: int) -> AsyncIterator[OpenedDocument]:
        """Send the request and check the answer's head; the body streams from ``chunks``.

        ``expected_size`` is the event's ``size_bytes`` (the caller refused one above
        ``max_bytes`` already).
        """
        if not is_under_base_url(url, self._base_url):
            raise DocumentRefused(
                "download_url is not under PORTAL_BASE_URL (checked again before the fetch)"
            )
        if self._breaker is not None:
            await self._breaker.before_call(self._probe)
        started = time.perf_counter()
        response = await self._send(url)
        try:
            if response.status_code in _CREDENTIAL_STATUSES and await self._secrets.refresh(PORTAL_API_KEY):
                await response.aclose()
                response = await self._send(url)
            await self._judge_status(response)
            length = _check_head(response, expected_size=expected_size, max_bytes=max_bytes)
            yield OpenedDocument(
                content_type=response.headers.get("content-type"),
                content_length=length,
                duration_ms=int((time.perf_counter() - started) * 1000),
                chunks=self._body(response, expected_size),
            )
        finally:
            await response.aclose()

    async def _send(self, url: str) -> httpx.Response:
        api_key = await self._secrets.get(PORTAL_API_KEY)
        request = self._http.build_request(
            "GET", url, headers={"Authorization": f"Bearer {api_key}", "Accept-Encoding": "identity"}
        )
        try:
            return await self._http.send(request, stream=True, follow_redirects=False)
        except PortalUnavailable:  # the host could not be resolved (the pinning transport)
            await self._failure()
            raise
        except httpx.TimeoutException as exc:
            await self._failure()
            raise PortalUnavailable("portal document download timed out") from exc
        except httpx.TransportError as exc:
            await self._failure()
            raise PortalUnavailable(f"portal document download: {type(exc).__name__}") from exc

    async def _judge_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            await self._failure()
            raise PortalUnavailable(
                f"portal answered {status} to the document download",
                status_code=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if self._breaker is not None:
            await self._breaker.record_success()
        if 300 <= status < 400:
            raise PortalRejected(
                f"portal answered {status} (a redirect) to the document download; redirects are not followed",
                status_code=status,
            )
        if status != 200:
            raise PortalRejected(f"portal answered {status} to the document download", status_code=status)

    async def _body(self, response: httpx.Response, limit: int) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > limit:
                    raise DocumentRefused(
                        f"the portal sent more bytes than the event declared ({limit}); stopped reading"
                    )
                yield chunk
        except httpx.TimeoutException as exc:
            await self._failure()
            raise PortalUnavailable(f"portal document download timed out after {received} bytes") from exc
        except httpx.TransportError as exc:
            await self._failure()
            raise PortalUnavailable(
                f"portal document download cut after {received} bytes ({type(exc).__name__})"
            ) from exc

    async def _failure(self) -> None:
        if self._breaker is not None:
            await self._breaker.record_failure()


def _check_head(response: httpx.Response, *, expected_size: int, max_bytes: int) -> int | None:
    """The declared length, after refusing what the head alone shows to be wrong."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise DocumentRefused(f"the portal sent an encoded body ({encoding}) although identity was asked")
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise DocumentRefused("the portal's Content-Length is not a number") from None
    if length > max_bytes:
        raise DocumentRefused(f"the portal declares {length} bytes, above DOCUMENT_MAX_BYTES ({max_bytes})")
    if length != expected_size:
        raise DocumentRefused(f"the portal declares {length} bytes, the event {expected_size}")
    return length
