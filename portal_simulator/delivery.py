"""Webhook delivery to the ATS, as a real portal does it: at least once, signed per attempt.

Each attempt is signed afresh (a new ``webhook-timestamp``), so a retry hours later still passes
the ATS's 300-second window. A 2xx ends the delivery; a 5xx or no answer (timeout, connection
error) is retried after the :class:`~portal_simulator.config.RetryPolicy` backoff; any other
answer, 4xx included, is final (``rejected``). Every attempt is recorded on its
:class:`~portal_simulator.state.Delivery` and counted in the stats.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from portal_simulator import ids
from portal_simulator.config import RetryPolicy
from portal_simulator.signing import webhook_headers
from portal_simulator.state import Attempt, Delivery, SimulatorState

Sleep = Callable[[float], Awaitable[None]]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class WebhookSender:
    """Signs and POSTs deliveries; retries in background tasks it owns (cancelled on close)."""

    def __init__(
        self,
        *,
        state: SimulatorState,
        keys: tuple[bytes, ...],
        retry: RetryPolicy,
        id_factory: ids.IdFactory,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._state = state
        self._keys = keys
        self.retry = retry
        self._ids = id_factory
        self._client = client
        self._owns_client = client is None
        self._sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        await self.cancel_retries()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def cancel_retries(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for delivery in self._state.deliveries:
            if delivery.outcome == "retrying":
                delivery.outcome = "cancelled"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def deliver(
        self, *, kind: str, message_id: str, event_type: str | None, url: str, body: bytes, content_type: str
    ) -> Delivery:
        """Make the first attempt now and return; retries (if needed) go on in the background."""
        delivery = Delivery(
            id=self._ids.new(ids.DELIVERY),
            kind=kind,
            message_id=message_id,
            event_type=event_type,
            url=url,
            body=body,
            content_type=content_type,
            created_at=self._state.clock(),
        )
        self._state.deliveries.append(delivery)
        delay = await self._attempt(delivery)
        if delay is not None:
            delivery.outcome = "retrying"
            task = asyncio.create_task(self._retry_loop(delivery, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return delivery

    async def wait_settled(self, timeout: float) -> None:
        """Wait until no retry is pending (for tests and the CLI), at most ``timeout`` seconds."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _retry_loop(self, delivery: Delivery, delay: float) -> None:
        next_delay: float | None = delay
        while next_delay is not None:
            await self._sleep(next_delay)
            next_delay = await self._attempt(delivery)

    async def _attempt(self, delivery: Delivery) -> float | None:
        """One signed POST; returns the wait before the next attempt, or None when settled."""
        state = self._state
        number = len(delivery.attempts) + 1
        faults = state.faults.for_webhook(urlsplit(delivery.url).path)
        for fault in faults.fired:
            state.stats.record_fault(fault)
        keys = (state.fault_rng.randbytes(32),) if faults.wrong_signature else self._keys
        stamp = int(state.clock().timestamp()) + faults.timestamp_skew_seconds
        headers = webhook_headers(keys, delivery.message_id, stamp, delivery.body)
        headers["content-type"] = delivery.content_type
        started_at, started = state.clock(), time.perf_counter()
        response: httpx.Response | None = None
        error: str | None = None
        try:
            response = await self._http().post(
                delivery.url, content=delivery.body, headers=headers, timeout=self.retry.timeout_seconds
            )
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.TransportError:
            error = "connection_error"
        attempt = Attempt(
            number=number,
            at=started_at,
            timestamp=stamp,
            status=response.status_code if response is not None else None,
            error=error,
            duration_ms=(time.perf_counter() - started) * 1000,
            faults=faults.fired,
        )
        delivery.attempts.append(attempt)
        state.stats.record_attempt(delivery.kind, attempt.result)
        if response is not None:
            delivery.response_body = _json_or_text(response)
            if response.is_success:
                delivery.outcome = "delivered"
                return None
            if response.status_code < 500:
                delivery.outcome = "rejected"
                return None
        if number >= self.retry.max_attempts:
            delivery.outcome = "gave_up"
            return None
        return self.retry.delay_after(number, _retry_after(response) if response is not None else None)


def _json_or_text(response: httpx.Response) -> object:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return response.text[:2000]
