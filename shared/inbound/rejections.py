r"""The operator's trace of every refused delivery: counted, logged without values, stored.

DESIGN.md: every rejected delivery is counted and logged (reason, event id, type, field names;
never values); a 422 or 400 whose signature was valid is also stored in
``rejected_deliveries`` with its payload, except when the failure is a missing consent (then
without the payload: a profile without consent must not be stored).

A rejection is never refused for its content: ``payload`` holds, in order of preference,

1. the body as JSON, when it decoded as a JSON object and PostgreSQL accepts it as ``jsonb``
   (PostgreSQL parses the text itself: the body is never re-parsed in Python); a body the
   validator found PostgreSQL would refuse (NUL, lone surrogates) goes straight to 2;
2. otherwise the body's text as a JSON *string* (``jsonb_typeof(payload) = 'string'``): the
   exact text for a UTF-8 body (a ``\u0000`` escape stays the six characters it was), with
   bytes that are not UTF-8, and NUL bytes, written as ``\xNN``;
3. otherwise no payload, the reason and errors still kept: only a database whose encoding
   cannot hold the text (a ``LATIN1`` database and a body with emoji) gets here.

So a JSON object in ``payload`` is always what arrived, and a string always means "the text,
because it could not be kept as JSON". Only PostgreSQL being unreachable fails the insert
(:class:`~shared.errors.DependencyUnavailable`, which the receiver answers with 503).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.contract.storable import escape_unstorable
from shared.db import transaction
from shared.errors import FieldError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused delivery or import line.

    ``body``: the bytes as received, or ``None`` when they must not be kept (missing consent,
    401, 413). ``as_json``: they decoded as a JSON object that PostgreSQL should accept as
    ``jsonb`` (as far as the validator can tell; PostgreSQL has the last word).
    """

    status_code: int
    reason: str
    event_id: str | None = None
    event_type: str | None = None
    errors: Sequence[FieldError] = ()
    body: bytes | None = None
    as_json: bool = False


_LOGGABLE_ID = re.compile(r"[A-Za-z0-9_:.\[\]-]{1,120}")


def loggable_id(value: str | None) -> str:
    """An id as it may appear in a log line: unverified headers may carry anything (newlines,
    text), so only a plain identifier is written as it is."""
    if value is None:
        return "-"
    return value if _LOGGABLE_ID.fullmatch(value) else "<not an identifier>"


def record_rejection_metrics(rejection: Rejection, *, endpoint: str) -> None:
    metrics.increment(
        "deliveries_rejected", endpoint=endpoint, status=str(rejection.status_code), reason=rejection.reason
    )
    log.warning(
        "delivery rejected: endpoint=%s status=%s reason=%s event_id=%s type=%s fields=%s",
        endpoint,
        rejection.status_code,
        rejection.reason,
        loggable_id(rejection.event_id),
        loggable_id(rejection.event_type),
        ",".join(loggable_id(error.field) for error in rejection.errors) or "-",
    )


class PayloadForm(Enum):
    """How ``rejected_deliveries.payload`` holds a body, most faithful first."""

    JSON = "json"
    TEXT = "text"
    NONE = "none"


#: The one named statement: (event_id, event_type, status_code, reason, errors jsonb, the body
#: as JSON text or NULL, the body as plain text or NULL); the payload is whichever is given.
INSERT_REJECTION: Final = (
    "INSERT INTO rejected_deliveries (event_id, event_type, status_code, reason, errors, payload) "
    "VALUES (%s, %s, %s, %s, %s, COALESCE(%s::jsonb, to_jsonb(%s::text)))"
)

# PostgreSQL refusing a value (class 22: NUL escape, bad Unicode, numeric overflow; class 54: a
# document too complex), or psycopg refusing to send one: the content, never the connection.
_CONTENT_REFUSED: Final = (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded, UnicodeEncodeError)


def _forms(rejection: Rejection) -> tuple[PayloadForm, ...]:
    if rejection.body is None:
        return (PayloadForm.NONE,)
    if rejection.as_json:
        return (PayloadForm.JSON, PayloadForm.TEXT, PayloadForm.NONE)
    return (PayloadForm.TEXT, PayloadForm.NONE)


def body_text(body: bytes) -> str:
    """The body as text PostgreSQL can hold: UTF-8 as it is; other bytes and NUL as ``\\xNN``."""
    return body.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


def _parameters(rejection: Rejection, form: PayloadForm) -> tuple[Any, ...]:
    body = rejection.body
    return (
        None if rejection.event_id is None else escape_unstorable(rejection.event_id),
        None if rejection.event_type is None else escape_unstorable(rejection.event_type),
        rejection.status_code,
        escape_unstorable(rejection.reason),
        Jsonb([{k: escape_unstorable(v) for k, v in e.as_dict().items()} for e in rejection.errors]),
        body.decode("utf-8") if form is PayloadForm.JSON and body is not None else None,
        body_text(body) if form is PayloadForm.TEXT and body is not None else None,
    )


async def store_rejections(pool: AsyncConnectionPool, rejections: Sequence[Rejection]) -> None:
    """Insert the rejections in one transaction, each payload in the most faithful form
    PostgreSQL accepts; raises DependencyUnavailable if PostgreSQL is down.

    The usual case is one statement for all, in order, inside a savepoint; only if PostgreSQL
    refuses a value there is each rejection inserted on its own, falling back form by form.
    """
    if not rejections:
        return
    async with transaction(pool) as conn:
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(INSERT_REJECTION, [_parameters(r, _forms(r)[0]) for r in rejections])
            return
        except _CONTENT_REFUSED:
            pass
        for rejection in rejections:
            await _insert_one(conn, rejection)


async def _insert_one(conn: psycopg.AsyncConnection[Any], rejection: Rejection) -> None:
    """Each form in turn, in a savepoint; the last one (no payload) has nothing left to refuse."""
    *fallible, last = _forms(rejection)
    for form in fallible:
        try:
            async with conn.transaction():
                await conn.execute(INSERT_REJECTION, _parameters(rejection, form))
        except _CONTENT_REFUSED as refused:
            log.warning(
                "rejected delivery %s: PostgreSQL refused its payload as %s (%s); trying the next form",
                loggable_id(rejection.event_id),
                form.value,
                type(refused).__name__,
            )
            continue
        _count_fallback(rejection, form)
        return
    await conn.execute(INSERT_REJECTION, _parameters(rejection, last))
    _count_fallback(rejection, last)


def _count_fallback(rejection: Rejection, form: PayloadForm) -> None:
    if form is not _forms(rejection)[0]:
        metrics.increment("rejected_payload_fallback", form=form.value)
