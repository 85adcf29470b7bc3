"""The portal circuit breaker: state in Redis shared by every instance, probe after the cool-down."""

from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis

from shared.circuit_breaker import CircuitBreaker
from shared.errors import CircuitOpen, PortalRejected, PortalUnavailable
from shared.portal_client import PortalClient
from shared.secrets import EnvironmentSource, SecretStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def make_client(portal, api_key, redis_url, redis_prefix, clock):
    opened = []

    async def make(redis_address: str = redis_url) -> PortalClient:
        http = httpx.AsyncClient(base_url=portal.base_url, timeout=5)
        redis_client = aioredis.Redis.from_url(redis_address, socket_connect_timeout=0.3, socket_timeout=0.3)
        opened.append((http, redis_client))
        breaker = CircuitBreaker(
            redis_client, redis_prefix, failure_threshold=5, cooldown_seconds=30, clock=clock
        )
        return PortalClient(http, SecretStore(EnvironmentSource({"portal-api-key": api_key})), breaker)

    yield make
    for http, redis_client in opened:
        await http.aclose()
        await redis_client.aclose()


async def calls_to(portal, path: str) -> int:
    stats = await portal.admin.stats()
    return sum(v["total"] for k, v in stats["requests"].items() if path in k)


async def fail_five_times(client: PortalClient) -> None:
    for _ in range(5):
        with pytest.raises(PortalUnavailable):
            await client.get_candidate("cand_x")


async def test_five_transient_failures_open_it_and_no_call_is_made_while_open(portal, make_client):
    client = await make_client()
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates")
    await fail_five_times(client)
    before = await calls_to(portal, "/v1/candidates")
    with pytest.raises(CircuitOpen) as caught:
        await client.get_candidate("cand_x")
    assert caught.value.transient
    assert await calls_to(portal, "/v1/candidates") == before


async def test_other_4xx_answers_do_not_count_and_reset_the_run(portal, make_client):
    client = await make_client()
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates", count=4)
    for _ in range(4):
        with pytest.raises(PortalUnavailable):
            await client.get_candidate("cand_x")
    with pytest.raises(PortalRejected):  # 404: the portal is up
        await client.get_candidate("cand_unknown")
    await portal.admin.add_fault("error_503", path_prefix="/v1/candidates", count=4)
    for _ in range(4):
        with pytest.raises(PortalUnavailable):
            await client.get_candidate("cand_x")
    with pytest.raises(PortalRejected):  # still closed: the call was made and answered 404
        await client.get_candidate("cand_x")


async def test_after_the_cool_down_a_successful_probe_closes_it(portal, make_client, clock):
    client = await make_client()
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates", count=5)
    await fail_five_times(client)
    clock.now += 29
    with pytest.raises(CircuitOpen):
        await client.get_candidate("cand_x")
    clock.now += 2
    health_before = await calls_to(portal, "/v1/health")
    cand = await portal.admin.seed_candidate()
    assert (await client.get_candidate(cand["id"]))["id"] == cand["id"]
    assert await calls_to(portal, "/v1/health") == health_before + 1


async def test_a_failed_probe_opens_it_for_another_cool_down(portal, make_client, clock):
    client = await make_client()
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates", count=5)
    await portal.admin.add_fault("error_503", path_prefix="/v1/health", count=1)
    await fail_five_times(client)
    clock.now += 31
    with pytest.raises(CircuitOpen, match="probe failed"):
        await client.get_candidate("cand_x")
    clock.now += 29
    with pytest.raises(CircuitOpen):
        await client.get_candidate("cand_x")
    clock.now += 2
    cand = await portal.admin.seed_candidate()
    assert (await client.get_candidate(cand["id"]))["id"] == cand["id"]


async def test_every_instance_sees_the_same_state(portal, make_client):
    first, second = await make_client(), await make_client()
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates")
    await fail_five_times(first)
    with pytest.raises(CircuitOpen):
        await second.get_candidate("cand_x")


async def test_with_redis_down_the_breaker_acts_closed(portal, make_client):
    client = await make_client("redis://127.0.0.1:9/0")
    await portal.admin.add_fault("error_500", path_prefix="/v1/candidates")
    await fail_five_times(client)
    before = await calls_to(portal, "/v1/candidates")
    with pytest.raises(PortalUnavailable):
        await client.get_candidate("cand_x")
    assert await calls_to(portal, "/v1/candidates") == before + 1
