"""How a PostgreSQL connection authenticates: the URL's own password, or an Entra ID token.

Azure Database for PostgreSQL accepts an Entra ID access token as the password of the role
named after the principal (``DATABASE_AUTH=entra``). A token lives about an hour, so it is
fetched for each new connection, never once per pool: a pool that kept the first token would
fail every reconnection after it expired. PostgreSQL checks the password only when a
connection opens, so a connection that outlives its token keeps working.

``DefaultAzureCredential`` caches the token and renews it before it expires, so asking it for
every new connection costs a network call only about once an hour. The credential is the edge:
anything with an async ``get_token(scope)`` will do, which is how the tests hand in a fake one
(Entra cannot be reached from a test).

Used by the app's pool (:func:`shared.db.create_pool`), by ``python -m shared.migrate`` and by
operator tools (:func:`shared.db.connect`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from shared.errors import ConfigurationError, DependencyUnavailable

#: The scope Azure Database for PostgreSQL (flexible server) accepts tokens for.
POSTGRES_ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"

DatabaseAuth = Literal["password", "entra"]
DATABASE_AUTH_VALUES: tuple[DatabaseAuth, ...] = ("password", "entra")


class AccessTokenLike(Protocol):
    @property
    def token(self) -> str: ...


class AsyncTokenCredential(Protocol):
    """The slice of ``azure.identity.aio`` credentials used here."""

    async def get_token(self, *scopes: str) -> AccessTokenLike: ...

    async def close(self) -> None: ...


class ConnectionAuth:
    """The keyword arguments of each new psycopg connection, password included when needed.

    An instance is callable, so it can be psycopg_pool's ``kwargs`` (which the pool calls for
    every connection it opens) as well as the source of a single connection's arguments.
    """

    def __init__(self, base: Mapping[str, Any], credential: AsyncTokenCredential | None = None) -> None:
        self._base = dict(base)
        self._credential = credential

    @property
    def uses_entra(self) -> bool:
        return self._credential is not None

    async def __call__(self) -> dict[str, Any]:
        kwargs = dict(self._base)
        if self._credential is not None:
            kwargs["password"] = await _token(self._credential)
        return kwargs

    async def close(self) -> None:
        if self._credential is not None:
            await self._credential.close()


async def _token(credential: AsyncTokenCredential) -> str:
    from azure.core.exceptions import AzureError

    try:
        token = await credential.get_token(POSTGRES_ENTRA_SCOPE)
    except AzureError as exc:
        # No token means no connection for now; the pool retries with backoff, a caller of
        # a single connection gets the transient error. The message never holds a token.
        raise DependencyUnavailable(
            f"PostgreSQL: no Entra ID token for DATABASE_AUTH=entra: {type(exc).__name__}"
        ) from exc
    return token.token


def connection_auth(
    auth: str,
    base: Mapping[str, Any] | None = None,
    *,
    credential: AsyncTokenCredential | None = None,
) -> ConnectionAuth:
    """Build the connection arguments for ``DATABASE_AUTH`` = ``auth``.

    ``entra`` uses ``credential`` when given (tests, a caller's own), else a new
    ``DefaultAzureCredential`` (managed identity in Azure, the Azure CLI login on a runner).
    """
    if auth == "password":
        return ConnectionAuth(base or {})
    if auth == "entra":
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return ConnectionAuth(base or {}, credential)
    raise ConfigurationError(f"DATABASE_AUTH must be one of {list(DATABASE_AUTH_VALUES)}")


__all__ = [
    "DATABASE_AUTH_VALUES",
    "POSTGRES_ENTRA_SCOPE",
    "AsyncTokenCredential",
    "ConnectionAuth",
    "DatabaseAuth",
    "connection_auth",
]
