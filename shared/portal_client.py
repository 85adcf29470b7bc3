"""The portal's REST API (portal-contract.md §2), with its answers mapped onto our errors.

Every call goes through one private path, :meth:`PortalClient._request`, which keeps the rules
that hold for all of them (DESIGN.md, "The rules every flow keeps"):

* **the breaker**: while it is open no call is made (:class:`~shared.errors.CircuitOpen`);
  408, 429, 5xx, timeouts and broken connections count towards opening it, any other answer
  shows the portal is up and resets it;
* **the API key**: ``Authorization: Bearer`` from the secret store. A 401 or 403 refreshes the
  key once (:meth:`SecretStore.refresh`, itself at most once a minute) and, when that gave a
  different key, the call is made once more with it. A 401/403 that persists is
  :class:`~shared.errors.PortalCredentialRejected`, a *transient* error, with the alert
  ``portal_credentials_rejected`` keyed ``portal``: our credential is wrong, so the work waits
  for an operator rather than failing;
* **the answer**: 400, 404, 409 and 422 are permanent for that request
  (:class:`~shared.errors.PortalRejected`); 408, 429 and 5xx, timeouts and broken connections
  are transient (:class:`~shared.errors.PortalUnavailable`, carrying ``Retry-After`` when the
  portal sent one, capped at 300 s). Redirects are never followed;
* **the record**: one ``portal_activity_log`` row per call (:mod:`shared.portal_activity`):
  operation (the method and the contract's path, ``POST /v1/offers``, as the document downloads
  write it), entity id, outcome, HTTP status, duration, and an error made of the status and the
  names of the fields the portal complained about, never its wording.

A new kind of call is one more public method over :meth:`_request`; one that needs another
kind of exchange (a streamed download, say) passes its own to :meth:`_guarded`, and inherits
all four. Readiness (:meth:`health`) alone bypasses the breaker and the record: it reports what
is, not what the breaker believes, and is called far too often to be activity.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared.alerts import AlertSink
from shared.circuit_breaker import CircuitBreaker
from shared.errors import (
    IntegrationError,
    PortalCredentialRejected,
    PortalRejected,
    PortalUnavailable,
)
from shared.portal_activity import ActivityRecorder, CallOutcome, CallRecord
from shared.secrets import PORTAL_API_KEY, SecretStore

TRANSIENT_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
CREDENTIAL_STATUSES = frozenset({401, 403})
RETRY_AFTER_CAP_SECONDS = 300.0
#: How long work waits after our key was refused twice: the secret store refreshes a key at
#: most once a minute, so trying sooner cannot use a new one.
CREDENTIAL_RETRY_SECONDS = 60.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the contract sends seconds), capped at 300."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds < 0 or seconds != seconds:  # negative or NaN
        return None
    return min(seconds, RETRY_AFTER_CAP_SECONDS)


def problem_fields(response: httpx.Response) -> list[str]:
    """The field names of a problem+json ``errors`` list (never the messages, which may quote
    values); empty when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return sorted({str(e["field"])[:100] for e in errors if isinstance(e, dict) and "field" in e})


def describe_refusal(response: httpx.Response, method: str, path_template: str) -> str:
    fields = problem_fields(response)
    named = f" (fields: {', '.join(fields)})" if fields else ""
    return f"portal answered {response.status_code} to {method} {path_template}{named}"


@dataclass(frozen=True, slots=True)
class Created:
    """A 2xx answer to a POST: its status and JSON object (empty when it was not one)."""

    status_code: int
    body: Mapping[str, Any]
    replayed: bool = False

    def portal_id(self, prefix: str) -> str | None:
        """The answer's ``id`` when it is a portal id with ``prefix`` (``ireq_``, ``off_``)."""
        value = self.body.get("id")
        return value if isinstance(value, str) and value.startswith(prefix) else None


@dataclass(frozen=True, slots=True)
class Call:
    """What :meth:`PortalClient._request` needs to know about a call besides the HTTP."""

    method: str
    path: str
    template: str  # the path with its ids as placeholders, as the contract writes it
    entity_id: str | None  # portal_activity_log.entity_id: an id, never personal data
    json: Any = None
    idempotency_key: str | None = None

    @property
    def operation(self) -> str:
        """``portal_activity_log.operation``: ``POST /v1/offers``, ``GET /v1/candidates/{cand_id}``."""
        return f"{self.method} {self.template}"


class PortalClient:
    """Typed calls; each returns parsed JSON or raises an :class:`IntegrationError`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        secrets: SecretStore,
        breaker: CircuitBreaker | None = None,
        *,
        activity: ActivityRecorder | None = None,
        alerter: AlertSink | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._http = http
        self._secrets = secrets
        self._breaker = breaker
        self._activity = activity
        self._alerter = alerter
        self._timer = timer

    # --- the one path every call takes ---------------------------------------------------------

    async def _request(self, call: Call) -> httpx.Response:
        """Breaker, key (with one refresh), answer mapping and activity record, for one call."""
        return await self._guarded(call, lambda key: self._send(call, key))

    async def _guarded(
        self, call: Call, exchange: Callable[[str], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """The rules of the module docstring around ``exchange`` (one HTTP exchange with a key)."""
        if self._breaker is not None:
            await self._breaker.before_call(self._probe)
        started = self._timer()
        try:
            response = await self._authorised(call, exchange)
        except PortalUnavailable as exc:
            await self._after(call, started, CallOutcome.UNAVAILABLE, exc.status_code, str(exc))
            if self._breaker is not None:
                await self._breaker.record_failure()
            raise
        except PortalCredentialRejected as exc:
            await self._after(call, started, CallOutcome.CREDENTIALS_REJECTED, exc.status_code, str(exc))
            if self._breaker is not None:
                await self._breaker.record_success()  # the portal answered: it is up
            if self._alerter is not None:
                await self._alerter.raise_alert("portal_credentials_rejected", "portal", str(exc))
            raise
        except PortalRejected as exc:
            await self._after(call, started, CallOutcome.REJECTED, exc.status_code, str(exc))
            if self._breaker is not None:
                await self._breaker.record_success()
            raise
        await self._after(call, started, CallOutcome.SUCCEEDED, response.status_code, None)
        if self._breaker is not None:
            await self._breaker.record_success()
        return response

    async def _authorised(
        self, call: Call, exchange: Callable[[str], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """One exchange, and one more with a refreshed key after a 401/403; then classified."""
        key = await self._secrets.get(PORTAL_API_KEY)
        response = await exchange(key)
        if response.status_code in CREDENTIAL_STATUSES:
            await response.aclose()
            fresh = await self._refreshed_key(key)
            if fresh is not None:
                response = await exchange(fresh)
            if response.status_code in CREDENTIAL_STATUSES:
                await response.aclose()
                raise PortalCredentialRejected(
                    f"portal answered {response.status_code} to {call.method} {call.template} "
                    f"with our API key{' after a key refresh' if fresh is not None else ''}",
                    status_code=response.status_code,
                    retry_after=CREDENTIAL_RETRY_SECONDS,
                )
        return await self._classified(call, response)

    async def _refreshed_key(self, used: str) -> str | None:
        """The key after one refresh, or None when the store holds no other key than ``used``."""
        try:
            await self._secrets.refresh(PORTAL_API_KEY)
            fresh = await self._secrets.get(PORTAL_API_KEY)
        except IntegrationError:
            return None  # the store could not refresh: the call stays refused as it is
        return fresh if fresh != used else None

    async def _classified(self, call: Call, response: httpx.Response) -> httpx.Response:
        if response.status_code in TRANSIENT_STATUSES:
            await response.aclose()
            raise PortalUnavailable(
                f"portal answered {response.status_code} to {call.method} {call.template}",
                status_code=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 300:
            await response.aread()  # a streamed answer too: problem bodies are small
            raise PortalRejected(
                describe_refusal(response, call.method, call.template), status_code=response.status_code
            )
        return response

    async def _send(self, call: Call, key: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        try:
            return await self._http.request(call.method, call.path, json=call.json, headers=headers)
        except httpx.TimeoutException as exc:
            raise PortalUnavailable(f"portal {call.method} {call.template} timed out") from exc
        except httpx.TransportError as exc:
            raise PortalUnavailable(f"portal {call.method} {call.template}: {type(exc).__name__}") from exc

    async def _after(
        self, call: Call, started: float, outcome: CallOutcome, status: int | None, error: str | None
    ) -> None:
        if self._activity is None:
            return
        await self._activity.record(
            CallRecord(
                operation=call.operation,
                entity_id=call.entity_id,
                outcome=outcome,
                http_status=status,
                duration_ms=max(0, round((self._timer() - started) * 1000)),
                error=error,
            )
        )

    async def _probe(self) -> bool:
        """The breaker's half-open probe: ``GET /v1/health`` answers 2xx. Recorded, never
        through the breaker (it is the breaker asking)."""
        call = Call("GET", "/v1/health", "/v1/health", None)
        started = self._timer()
        try:
            await self._authorised(call, lambda key: self._send(call, key))
        except IntegrationError as exc:
            status = getattr(exc, "status_code", None)
            await self._after(call, started, CallOutcome.UNAVAILABLE, status, str(exc))
            return False
        await self._after(call, started, CallOutcome.SUCCEEDED, 200, None)
        return True

    # --- the contract's calls ------------------------------------------------------------------

    async def get_candidate(self, portal_candidate_id: str) -> dict[str, Any]:
        """``GET /v1/candidates/{id}``: the candidate's profile (the ``candidate`` object)."""
        response = await self._request(
            Call(
                "GET",
                f"/v1/candidates/{portal_candidate_id}",
                "/v1/candidates/{cand_id}",
                portal_candidate_id,
            )
        )
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

    async def create_interview_request(
        self, body: Mapping[str, Any], *, idempotency_key: str, entity_id: str
    ) -> Created:
        """``POST /v1/interview-requests``: 201 ``{"id": "ireq_...", "status": "pending"}``."""
        return await self._post("/v1/interview-requests", body, idempotency_key, entity_id)

    async def create_offer(self, body: Mapping[str, Any], *, idempotency_key: str, entity_id: str) -> Created:
        """``POST /v1/offers``: 201 ``{"id": "off_...", "status": "sent"}``."""
        return await self._post("/v1/offers", body, idempotency_key, entity_id)

    async def update_status(
        self, portal_candidate_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> Created:
        """``POST /v1/candidates/{id}/status``: 200."""
        return await self._post(
            f"/v1/candidates/{portal_candidate_id}/status",
            body,
            idempotency_key,
            portal_candidate_id,
            template="/v1/candidates/{cand_id}/status",
        )

    async def _post(
        self,
        path: str,
        body: Mapping[str, Any],
        idempotency_key: str,
        entity_id: str,
        *,
        template: str | None = None,
    ) -> Created:
        response = await self._request(
            Call(
                "POST",
                path,
                template or path,
                entity_id,
                json=dict(body),
                idempotency_key=idempotency_key,
            )
        )
        try:
            parsed = response.json()
        except ValueError:
            parsed = {}
        return Created(
            status_code=response.status_code,
            body=parsed if isinstance(parsed, dict) else {},
            replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
        )

    async def circuit_open_for(self) -> float | None:
        """Seconds the breaker stays open (no call may be made), or None when a call may be."""
        if self._breaker is None:
            return None
        return await self._breaker.open_for()

    async def health(self) -> None:
        """``GET /v1/health``, never through the breaker nor the record: readiness reports what
        is, not what the breaker believes."""
        call = Call("GET", "/v1/health", "/v1/health", None)
        await self._authorised(call, lambda key: self._send(call, key))
