"""HTTP triggers over real HTTP: routes, parameters, methods, 404/405, errors, keep-alive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.devhost.apps import http_app

pytestmark = pytest.mark.integration


@pytest.fixture
async def base_url(run_host):
    async with run_host(http_app.build(), {}) as host:
        yield f"http://127.0.0.1:{host.http.port}"


async def test_route_parameters_query_headers_and_body(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        answer = await client.post("/api/items/42?x=1&y=two", content=b'{"a":1}', headers={"X-Test": "hello"})
    assert answer.status_code == 200
    assert answer.headers["x-answer"] == "yes"
    assert answer.headers["content-type"].startswith("application/json")
    got = answer.json()
    assert got["which"] == "item"
    assert got["method"] == "POST"
    assert got["route"] == {"id": "42"}
    assert got["params"] == {"x": "1", "y": "two"}
    assert got["body"] == '{"a":1}'
    assert got["header"] == "hello"
    assert got["url"] == f"{base_url}/api/items/42?x=1&y=two"


async def test_literal_beats_parameter_and_constraints_pick_the_route(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/api/items/new")).json()["which"] == "new"
        assert (await client.get("/api/ITEMS/NEW")).json()["which"] == "new"  # case-insensitive
        assert (await client.delete("/api/items/abc")).json()["route"] == {"name": "abc"}
        # 'abc' fails {id:int}; GET is not allowed on the DELETE-only route: 405
        answer = await client.get("/api/items/abc")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "DELETE"


async def test_catch_all_and_optional_parameters(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/api/files/a/b/c.txt")).json()["route"] == {"rest": "a/b/c.txt"}
        assert (await client.get("/api/files/")).json()["route"] == {}
        assert (await client.get("/api/opt/x")).json()["route"] == {"name": "x"}
        assert (await client.get("/api/opt")).json()["route"] == {}


async def test_unknown_route_is_404_and_wrong_method_is_405(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/api/nothing")).status_code == 404
        assert (await client.get("/elsewhere/items/1")).status_code == 404
        answer = await client.put("/api/items/1")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "DELETE, GET, POST"


async def test_no_function_key_is_demanded_whatever_the_auth_level(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/api/items/7")).status_code == 200  # FUNCTION level
        assert (await client.get("/api/items/new")).status_code == 200  # ADMIN level


async def test_methods_unset_means_every_method_and_context_is_passed(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            answer = await client.request(method, "/api/any")
            assert answer.json()["method"] == method
            assert answer.json()["function"] == "anything"


async def test_exception_is_500_and_logged(base_url, caplog) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        answer = await client.get("/api/boom")
    assert answer.status_code == 500
    assert "kaboom" in caplog.text
    assert "Executed 'Functions.boom' (Failed" in caplog.text


async def test_plain_string_return_and_head(base_url) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        answer = await client.get("/api/text")
        assert (answer.status_code, answer.text) == (200, "plain")
        head = await client.head("/api/any")
        assert head.status_code == 200
        assert head.content == b""


async def test_chunked_body_and_expect_continue(base_url) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"part1-"
        yield b"part2"

    async with httpx.AsyncClient(base_url=base_url) as client:
        answer = await client.post("/api/items/1", content=chunks())
        assert answer.json()["body"] == "part1-part2"
        answer = await client.post("/api/items/1", content=b"x" * 5000, headers={"Expect": "100-continue"})
        assert answer.json()["body"] == "x" * 5000


async def test_keep_alive_serves_many_requests_on_one_connection(base_url) -> None:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:
        answers = await asyncio.gather(*(client.get(f"/api/items/{i}") for i in range(50)))
    assert [a.json()["route"]["id"] for a in answers] == [str(i) for i in range(50)]


async def test_malformed_request_is_400(run_host) -> None:
    async with run_host(http_app.build(), {}) as host:
        reader, writer = await asyncio.open_connection("127.0.0.1", host.http.port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_one_log_line_per_invocation(base_url, caplog) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        await client.post("/api/items/5", content=b"secret-body-value")
    lines = [r.getMessage() for r in caplog.records if r.name == "devhost.invocations"]
    assert len(lines) == 1
    assert lines[0].startswith("Executed 'Functions.item' (Succeeded, trigger=httpTrigger, Duration=")
    assert "secret-body-value" not in caplog.text
