"""The portal's REST API (portal-contract.md §2), with its answers mapped onto our errors.

400, 401, 403, 404, 409 and 422 are permanent for that request (:class:`PortalRejected`);
408, 429 and 5xx, timeouts and broken connections are transient (:class:`PortalUnavailable`,
carrying ``Retry-After`` when the portal sent one). Redirects are never followed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from shared.circuit_breaker import CircuitBreaker
from shared.errors import PortalRejected, PortalUnavailable
from shared.secrets import PORTAL_API_KEY, SecretStore

TRANSIENT_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
RETRY_AFTER_CAP_SECONDS = 300.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the contract sends seconds), capped at 300."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_CAP_SECONDS)


class PortalClient:
    """Thin, typed calls; every call returns parsed JSON or raises an IntegrationError.

    Calls go through the shared circuit breaker when one is given: while it is open no call is
    made (:class:`~shared.errors.CircuitOpen`), transient failures count towards opening it, and
    any other answer shows the portal is up and resets it.
    """

    def __init__(
        self, http: httpx.AsyncClient, secrets: SecretStore, breaker: CircuitBreaker | None = None
    ) -> None:
        self._http = http
        self._secrets = secrets
        self._breaker = breaker

    async def _request(
        self, method: str, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        if self._breaker is None:
            return await self._call(method, path, json=json, headers=headers)
        await self._breaker.before_call(self._probe)
        try:
            response = await self._call(method, path, json=json, headers=headers)
        except PortalUnavailable:
            await self._breaker.record_failure()
            raise
        except PortalRejected:
            await self._breaker.record_success()
            raise
        await self._breaker.record_success()
        return response

    async def _probe(self) -> bool:
        """The breaker's half-open probe: ``GET /v1/health`` answers 2xx."""
        try:
            await self._call("GET", "/v1/health")
        except (PortalUnavailable, PortalRejected):
            return False
        return True

    async def _call(
        self, method: str, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        api_key = await self._secrets.get(PORTAL_API_KEY)
        all_headers = {"Authorization": f"Bearer {api_key}", **(headers or {})}
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, json=json, headers=all_headers)
        except httpx.TimeoutException as exc:
            raise PortalUnavailable(f"portal {method} {path} timed out") from exc
        except httpx.TransportError as exc:
            raise PortalUnavailable(f"portal {method} {path}: {type(exc).__name__}") from exc
        response.extensions["duration_ms"] = int((time.perf_counter() - started) * 1000)
        if response.status_code in TRANSIENT_STATUSES:
            raise PortalUnavailable(
                f"portal answered {response.status_code} to {method} {path}",
                status_code=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 300:
            raise PortalRejected(
                f"portal answered {response.status_code} to {method} {path}", status_code=response.status_code
            )
        return response

    async def get_candidate(self, portal_candidate_id: str) -> dict[str, Any]:
        """``GET /v1/candidates/{id}``: the candidate's profile (the ``candidate`` object)."""
        response = await self._request("GET", f"/v1/candidates/{portal_candidate_id}")
        try:
            body = response.json()
            candidate = body["candidate"]
        except (ValueError, KeyError, TypeError):
            raise PortalRejected(
                "portal answered a candidate without a 'candidate' object", status_code=502
            ) from None
        if not isinstance(candidate, dict):
            raise PortalRejected("portal answered a candidate that is not an object", status_code=502)
        return candidate

    async def health(self) -> None:
        """``GET /v1/health``, never through the breaker: readiness reports what is, not what the
        breaker believes."""
        await self._call("GET", "/v1/health")
