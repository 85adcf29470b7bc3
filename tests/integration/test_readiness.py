"""Readiness: one entry per component; 503 only when webhooks cannot be accepted."""

from __future__ import annotations

import asyncio

from shared.health import Readiness, check_readiness, readiness_body, runtime_checks
from shared.runtime import Runtime

DEAD_PG = "postgresql://postgres@127.0.0.1:9/none"


async def readiness(environ):
    runtime = await Runtime.from_environ(environ)
    try:
        status, components = await check_readiness(runtime_checks(runtime))
        return status, readiness_body(status, components)
    finally:
        await runtime.close()


async def test_everything_up_is_ready(portal_environ):
    status, body = await readiness(portal_environ)
    assert status is Readiness.READY
    assert set(body["components"]) == {"postgres", "redis", "blob", "queues", "portal"}
    assert {c["state"] for c in body["components"].values()} == {"up"}


async def test_database_down_degrades_but_webhooks_are_still_accepted(portal_environ):
    status, body = await readiness({**portal_environ, "DATABASE_URL": DEAD_PG})
    assert status is Readiness.DEGRADED
    assert body["components"]["postgres"]["state"] == "down"
    assert "127.0.0.1:9" not in str(body)  # no connection details in the answer


async def test_queue_transport_down_is_unavailable(portal_environ):
    status, body = await readiness({**portal_environ, "ServiceBusConnection": DEAD_PG})
    assert status is Readiness.UNAVAILABLE
    assert body["components"]["queues"]["state"] == "down"


async def test_redis_blob_and_portal_down_only_degrade(portal_environ):
    status, body = await readiness(
        {
            **portal_environ,
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "DocumentsStorage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;",
            "PORTAL_BASE_URL": "http://127.0.0.1:9",
        }
    )
    assert status is Readiness.DEGRADED
    assert {k for k, c in body["components"].items() if c["state"] == "down"} == {"redis", "blob", "portal"}


async def test_a_hanging_component_cannot_hang_the_probe():
    async def hangs() -> None:
        await asyncio.sleep(60)

    async def fine() -> None:
        return None

    status, components = await check_readiness({"queues": fine, "portal": hangs}, timeout=0.2)
    assert status is Readiness.DEGRADED
    assert components["portal"].error == "timed out"
