"""Clients of the admin API: :class:`AdminClient` (blocking, used by the CLI) and
:class:`AsyncAdminClient` (used by tests through :mod:`portal_simulator.testing`).

Both speak HTTP to ``/admin/*``, so a test drives the simulator exactly as the CLI does. Each
method returns the decoded JSON body and raises :class:`AdminError` on a non-2xx answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

Json = dict[str, Any]


class AdminError(RuntimeError):
    """The admin API answered an error; ``body`` is its problem+json (or text)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"admin API answered {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str
    body: Json | None = None
    params: dict[str, str] | None = None


def _drop_none(values: dict[str, Any]) -> Json:
    return {key: value for key, value in values.items() if value is not None}


class _Calls:
    """What each admin operation sends; shared by both clients."""

    @staticmethod
    def events(event_type: str, options: dict[str, Any]) -> _Call:
        return _Call("POST", "/admin/events", {"type": event_type, **_drop_none(options)})

    @staticmethod
    def seed_candidate(profile: Json | None) -> _Call:
        return _Call("POST", "/admin/candidates", {"candidate": profile} if profile else {})

    @staticmethod
    def bulk_import(options: dict[str, Any]) -> _Call:
        return _Call("POST", "/admin/import", _drop_none(options))

    @staticmethod
    def set_faults(rules: list[Json], seed: int | None) -> _Call:
        return _Call("PUT", "/admin/faults", _drop_none({"rules": rules, "seed": seed}))

    @staticmethod
    def add_fault(kind: str, options: dict[str, Any]) -> _Call:
        return _Call("POST", "/admin/faults", {"kind": kind, **_drop_none(options)})

    @staticmethod
    def deliveries(message_id: str | None) -> _Call:
        return _Call("GET", "/admin/deliveries", params={"message_id": message_id} if message_id else None)

    @staticmethod
    def update_settings(values: dict[str, Any]) -> _Call:
        return _Call("PUT", "/admin/settings", _drop_none(values))

    @staticmethod
    def settle(timeout_seconds: float) -> _Call:
        return _Call("POST", "/admin/settle", {"timeout_seconds": timeout_seconds})

    @staticmethod
    def get(path: str) -> _Call:
        return _Call("GET", path)

    @staticmethod
    def post(path: str) -> _Call:
        return _Call("POST", path, {})


def _decode(response: httpx.Response) -> Json:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if not response.is_success:
        raise AdminError(response.status_code, body)
    if not isinstance(body, dict):
        raise AdminError(response.status_code, body)
    return body


class AsyncAdminClient:
    """Async admin client; use as ``async with AsyncAdminClient(url) as admin``."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def __aenter__(self) -> AsyncAdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Json:
        response = await self._http.request(call.method, call.path, json=call.body, params=call.params)
        return _decode(response)

    async def generate_events(self, event_type: str, **options: Any) -> list[Json]:
        """``POST /admin/events``; options: count, candidate, duplicate_rate, shuffle, invalid,
        invalid_rule, overrides, deliver (default True). Returns the ``events`` items."""
        items: list[Json] = (await self._send(_Calls.events(event_type, options)))["events"]
        return items

    async def seed_candidate(self, profile: Json | None = None) -> Json:
        """Register ``profile`` (a generated one when None); returns the stored profile."""
        candidate: Json = (await self._send(_Calls.seed_candidate(profile)))["candidate"]
        return candidate

    async def bulk_import(self, **options: Any) -> Json:
        return await self._send(_Calls.bulk_import(options))

    async def faults(self) -> Json:
        return await self._send(_Calls.get("/admin/faults"))

    async def set_faults(self, rules: list[Json], *, seed: int | None = None) -> Json:
        return await self._send(_Calls.set_faults(rules, seed))

    async def add_fault(self, kind: str, **options: Any) -> Json:
        return await self._send(_Calls.add_fault(kind, options))

    async def reset_faults(self) -> Json:
        return await self._send(_Calls.post("/admin/faults/reset"))

    async def stats(self) -> Json:
        return await self._send(_Calls.get("/admin/stats"))

    async def deliveries(self, message_id: str | None = None) -> list[Json]:
        items: list[Json] = (await self._send(_Calls.deliveries(message_id)))["deliveries"]
        return items

    async def interview_requests(self) -> list[Json]:
        items: list[Json] = (await self._send(_Calls.get("/admin/interview-requests")))["interview_requests"]
        return items

    async def offers(self) -> list[Json]:
        items: list[Json] = (await self._send(_Calls.get("/admin/offers")))["offers"]
        return items

    async def status_updates(self) -> list[Json]:
        items: list[Json] = (await self._send(_Calls.get("/admin/status-updates")))["status_updates"]
        return items

    async def settings(self) -> Json:
        return await self._send(_Calls.get("/admin/settings"))

    async def update_settings(self, **values: Any) -> Json:
        return await self._send(_Calls.update_settings(values))

    async def settle(self, timeout_seconds: float = 10.0) -> Json:
        return await self._send(_Calls.settle(timeout_seconds))

    async def reset(self) -> Json:
        return await self._send(_Calls.post("/admin/reset"))


class AdminClient:
    """Blocking admin client (the CLI's); same operations as :class:`AsyncAdminClient`."""

    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout)

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Json:
        return _decode(self._http.request(call.method, call.path, json=call.body, params=call.params))

    def generate_events(self, event_type: str, **options: Any) -> list[Json]:
        items: list[Json] = self._send(_Calls.events(event_type, options))["events"]
        return items

    def seed_candidate(self, profile: Json | None = None) -> Json:
        candidate: Json = self._send(_Calls.seed_candidate(profile))["candidate"]
        return candidate

    def bulk_import(self, **options: Any) -> Json:
        return self._send(_Calls.bulk_import(options))

    def faults(self) -> Json:
        return self._send(_Calls.get("/admin/faults"))

    def set_faults(self, rules: list[Json], *, seed: int | None = None) -> Json:
        return self._send(_Calls.set_faults(rules, seed))

    def add_fault(self, kind: str, **options: Any) -> Json:
        return self._send(_Calls.add_fault(kind, options))

    def reset_faults(self) -> Json:
        return self._send(_Calls.post("/admin/faults/reset"))

    def stats(self) -> Json:
        return self._send(_Calls.get("/admin/stats"))

    def deliveries(self, message_id: str | None = None) -> list[Json]:
        items: list[Json] = self._send(_Calls.deliveries(message_id))["deliveries"]
        return items

    def interview_requests(self) -> list[Json]:
        items: list[Json] = self._send(_Calls.get("/admin/interview-requests"))["interview_requests"]
        return items

    def offers(self) -> list[Json]:
        items: list[Json] = self._send(_Calls.get("/admin/offers"))["offers"]
        return items

    def settings(self) -> Json:
        return self._send(_Calls.get("/admin/settings"))

    def update_settings(self, **values: Any) -> Json:
        return self._send(_Calls.update_settings(values))

    def settle(self, timeout_seconds: float = 10.0) -> Json:
        return self._send(_Calls.settle(timeout_seconds))

    def reset(self) -> Json:
        return self._send(_Calls.post("/admin/reset"))
