"""An httpx transport that connects only to the address it checked.

Each request's host is resolved once by :class:`~shared.documents.addresses.AddressPolicy`
(every answer classed, refused ones raise :class:`~shared.errors.DocumentRefused` before any
connection), and the request is sent to that address: the URL's host is replaced by the IP,
the ``Host`` header keeps the name (httpx set it from the original URL), and for https the TLS
server name (SNI) and the certificate check keep the name too (httpcore's ``sni_hostname``).
There is no second lookup, so DNS rebinding cannot redirect the connection. Redirects are the
client's business (never followed: ``follow_redirects=False``).
"""

from __future__ import annotations

import httpx

from shared.documents.addresses import AddressPolicy

_DEFAULT_PORTS = {"http": 80, "https": 443}


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: AddressPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._policy = policy
        # No retries inside the transport: a failed connect is the caller's transient failure.
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or _DEFAULT_PORTS.get(request.url.scheme, 443)
        address = await self._policy.pin(host, port)
        request.url = request.url.copy_with(host=str(address))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
