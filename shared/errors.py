"""The exception hierarchy every flow decides on.

Adapters translate third-party errors (psycopg, redis, httpx, azure-core) into these at the
boundary, so retry, park and dead-letter decisions read one attribute, ``transient``::

    IntegrationError
    ├── PermanentError              can never succeed as sent: record it, never retry
    │   ├── ConfigurationError      a setting is missing or malformed (raised at start)
    │   ├── ValidationFailed        input broke a rule of the contract (carries field errors)
    │   ├── MessageTooLarge         the queue refused a message for its size
    │   ├── DocumentRefused         a document's URL, size or hash is not acceptable
    │   └── PortalRejected          the portal answered 400, 404, 409 or 422, or an answer
    │                               that breaks the contract (401/403: see below)
    └── TransientError              may succeed later: back off and try again
        ├── DependencyUnavailable   PostgreSQL, Redis, Blob Storage or the queues unreachable
        ├── PortalUnavailable       408, 429, 5xx, timeout or broken connection (with Retry-After)
        ├── PortalCredentialRejected  401/403 to our API key, again after one refresh: our
        │                             credential is wrong, so the work waits (with an alert)
        └── CircuitOpen             the breaker is open: no call was made
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule, named by the field's path inside the event's ``data``."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class IntegrationError(Exception):
    """Base of every error the core raises on purpose."""

    transient: bool = False


class PermanentError(IntegrationError):
    """Retrying cannot help: the failure is recorded with its reason."""

    transient = False


class TransientError(IntegrationError):
    """The same attempt may succeed later; ``retry_after`` is a floor in seconds, if known."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(PermanentError):
    """A setting is missing or malformed; the message names it."""


class ValidationFailed(PermanentError):
    """Input broke one or more rules; each :class:`FieldError` names a field, never its value."""

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors: tuple[FieldError, ...] = tuple(errors)


class MessageTooLarge(PermanentError):
    """The queue refused a message because of its size."""


class DocumentRefused(PermanentError):
    """A document's URL, size or hash is not acceptable; never fetched or stored."""


class PortalRejected(PermanentError):
    """The portal answered a permanent 4xx for this request."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class DependencyUnavailable(TransientError):
    """One of our own services (PostgreSQL, Redis, Blob Storage, queues) did not answer."""


class PortalUnavailable(TransientError):
    """The portal answered 408, 429 or 5xx, timed out, or broke the connection."""

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status_code = status_code


class PortalCredentialRejected(TransientError):
    """The portal answered 401 or 403 to our API key, and again after the key was refreshed.

    Transient on purpose (DESIGN.md): the fault is our credential, not the work, so the work
    waits for an operator to fix the key instead of failing; ``retry_after`` is how long to wait
    before trying again (the secret store refreshes a key at most once a minute).
    """

    def __init__(self, message: str, *, status_code: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status_code = status_code


class CircuitOpen(TransientError):
    """The portal breaker is open; no call was made and no retry was used up."""
