"""REDIS_AUTH=entra: the client logs in as the identity's object id with an Entra ID token, and
re-authenticates its open connections when the token is renewed.

The identity provider is the test's own (Entra cannot be reached here); ``redis-entraid``'s
credential provider, redis-py's asyncio client and a Valkey server with ACL users are real. The
server is private to this module so its ACL users and command counts are the test's alone.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import jwt
import pytest
import redis.asyncio as aioredis
from redis.auth.idp import IdentityProviderInterface
from redis.auth.token import JWToken
from redis.auth.token_manager import RetryPolicy, TokenManagerConfig
from redis_entraid.cred_provider import EntraIdCredentialsProvider

from shared.errors import ConfigurationError
from shared.redis_store import ProcessedEvents, create_redis
from tests.support.auth_servers import scratch_valkey


class FakeIdentityProvider(IdentityProviderInterface):
    """Issues the next of a fixed list of tokens for one object id, each valid ``lifetime`` s.

    The list is known up front so the server can be told every token it will be shown, as
    Entra and Azure Managed Redis share what makes a token valid.
    """

    def __init__(self, lifetime: float, count: int = 30) -> None:
        self.object_id = str(uuid.uuid4())
        now = time.time()
        self.tokens = [
            jwt.encode(
                {"oid": self.object_id, "n": n, "iat": int(now), "exp": int(now + lifetime * (n + 1))},
                "test-signing-key-of-thirty-two-bytes!",
                algorithm="HS256",
            )
            for n in range(count)
        ]
        self.issued = 0

    def request_token(self, force_refresh: bool = False) -> JWToken:
        token = self.tokens[self.issued]
        self.issued += 1
        return JWToken(token)


def provider(idp: FakeIdentityProvider) -> EntraIdCredentialsProvider:
    # Renew at half the token's life (the library's default is 70 %).
    return EntraIdCredentialsProvider(idp, TokenManagerConfig(0.5, 0, 1000, RetryPolicy(3, 10)))


@pytest.fixture(scope="module")
def valkey_port() -> Iterator[int]:
    with scratch_valkey() as port:
        yield port


@pytest.fixture
async def admin(valkey_port: int) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(port=valkey_port)
    await client.config_resetstat()
    await client.execute_command("ACL", "LOG", "RESET")
    yield client
    await client.aclose()


def entra_client(port: int, idp: FakeIdentityProvider) -> aioredis.Redis:
    return create_redis(f"redis://127.0.0.1:{port}/0", auth="entra", credential_provider=provider(idp))


async def _accept(admin: aioredis.Redis, object_id: str, tokens: list[str]) -> None:
    """An ACL user named after the object id (as Azure's access policy assignment makes it)."""
    await admin.execute_command("ACL", "SETUSER", object_id, "on", *[f">{t}" for t in tokens], "~*", "+@all")


async def _logins(admin: aioredis.Redis) -> int:
    """AUTH commands and HELLO ... AUTH handshakes the server has answered."""
    stats = await admin.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_auth", "cmdstat_hello"))


async def test_the_client_logs_in_as_the_object_id_with_the_token(valkey_port: int, admin) -> None:
    idp = FakeIdentityProvider(lifetime=3600)
    await _accept(admin, idp.object_id, idp.tokens)
    client = entra_client(valkey_port, idp)
    try:
        assert await client.execute_command("ACL", "WHOAMI") == idp.object_id.encode()
        processed = ProcessedEvents(client, "entra-test:")
        await processed.mark_processed(["evt_1"])
        assert await processed.is_processed("evt_1")
    finally:
        await client.aclose()
    assert idp.issued >= 1


async def test_a_wrong_token_is_refused_by_the_server(valkey_port: int, admin) -> None:
    # Without this, the test above could pass against a server that ignores passwords.
    idp = FakeIdentityProvider(lifetime=3600)
    await _accept(admin, idp.object_id, ["a-token-entra-never-issued"])
    client = entra_client(valkey_port, idp)
    try:
        with pytest.raises(Exception, match="invalid username-password pair"):
            await client.ping()
    finally:
        await client.aclose()


async def test_open_connections_reauthenticate_with_the_renewed_token(valkey_port: int, admin) -> None:
    idp = FakeIdentityProvider(lifetime=2)
    await _accept(admin, idp.object_id, idp.tokens)
    client = entra_client(valkey_port, idp)
    try:
        assert await client.ping()
        logins, issued = await _logins(admin), idp.issued
        deadline = time.monotonic() + 30
        while (await _logins(admin)) <= logins and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        # The provider renewed the token and the pooled connection sent AUTH with it, on the
        # same connection (no reconnect), and the server accepted it.
        assert idp.issued > issued
        assert await _logins(admin) > logins
        assert (await admin.info("clients"))["connected_clients"] == 2
        assert await admin.execute_command("ACL", "LOG") == []
        assert await client.execute_command("ACL", "WHOAMI") == idp.object_id.encode()
    finally:
        await client.aclose()


def test_entra_refuses_a_url_that_holds_a_password() -> None:
    with pytest.raises(ConfigurationError, match="REDIS_URL must not hold a password"):
        create_redis("rediss://:access-key@example.redis.azure.net:10000", auth="entra")
