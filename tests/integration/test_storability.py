"""Property: whatever the validator accepts, PostgreSQL stores; whatever it refuses is still traced.

Bodies are written as JSON text by hand (so NaN, huge exponents, 5000-digit integers, lone
surrogates escaped or as raw bytes, and nesting past the limit can all be produced), around
valid events of every type (a field replaced, an unknown field added) and events of unknown
types. For each one, against a real PostgreSQL:

- accepted: the body goes into ``jsonb`` (PostgreSQL parsing the text itself) and comes back as
  the same value; every string of the body, keys included, goes into ``text`` and comes back
  unchanged; so does every string of the validated model;
- refused: a 4xx with the fields named, and ``store_rejections`` keeps the row with its reason
  (never an error for the content).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from shared.contract.envelope import DataInvalid, MalformedDelivery, parse_event
from shared.contract.events import EventType, UnknownEvent
from shared.db import create_pool
from shared.inbound.receiver import invalid_rejection, malformed_rejection
from shared.inbound.rejections import store_rejections
from tests.unit.test_contract_examples import BASE_URL, data


@dataclass(frozen=True)
class Literal:
    """A JSON number written exactly as given (``1e400``, ``NaN``, 5000 digits)."""

    text: str


def dump(value: Any, *, ascii_only: bool) -> str:
    """JSON text of ``value``; strings escaped (``\\ud800``) or raw, as ``ascii_only`` says."""
    if isinstance(value, Literal):
        return value.text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii_only)
    if isinstance(value, list):
        return "[" + ",".join(dump(item, ascii_only=ascii_only) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{json.dumps(k, ensure_ascii=ascii_only)}:{dump(v, ascii_only=ascii_only)}"
                for k, v in value.items()
            )
            + "}"
        )
    return json.dumps(value)


special_characters = st.sampled_from(
    ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\U0001f600", "é", "\uffff", "\x7f", "\\", '"', "\n"]
)
# Every code point, surrogates included (hypothesis leaves them out by default).
characters = st.one_of(st.characters(exclude_categories=()), special_characters)
texts = st.text(characters, max_size=6)


@st.composite
def number_literals(draw: st.DrawFn) -> Literal:
    kind = draw(st.sampled_from(["int", "decimal", "huge", "tiny", "long_int", "long_fraction", "not_json"]))
    if kind == "int":
        return Literal(str(draw(st.integers(-(10**12), 10**12))))
    if kind == "not_json":
        return Literal(draw(st.sampled_from(["NaN", "Infinity", "-Infinity"])))
    if kind == "long_int":
        return Literal(draw(st.sampled_from(["", "-"])) + "1" + "0" * draw(st.integers(300, 5000)))
    if kind == "long_fraction":
        return Literal("0." + "0" * draw(st.integers(16370, 16390)) + "1")
    exponent = {
        "decimal": st.integers(-12, 12),
        "huge": st.integers(300, 140000),
        "tiny": st.integers(-16400, -300),
    }[kind]
    digits = draw(st.integers(0, 10**9))
    return Literal(f"{draw(st.sampled_from(['', '-']))}{digits}.{draw(st.integers(0, 99))}e{draw(exponent)}")


leaves = st.one_of(st.none(), st.booleans(), texts, number_literals())
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


@st.composite
def poison_values(draw: st.DrawFn) -> Any:
    """A JSON value, sometimes wrapped in arrays around the nesting limit."""
    value = draw(json_values)
    if draw(st.booleans()):
        for _ in range(draw(st.integers(0, 40))):
            value = [value]
    return value


KNOWN_TYPES = [member.value for member in EventType]


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """(the signed body's bytes, its event id): a known type with one field replaced or one
    unknown field added, or an unknown type with arbitrary data; maybe an unknown envelope field."""
    event_id = f"evt_{draw(st.integers(1, 10**9))}"
    if draw(st.booleans()):
        event_type = draw(st.sampled_from(KNOWN_TYPES))
        payload: dict[str, Any] = data(event_type)
        holder = next(iter(payload))
        target = payload[holder]
        key = draw(st.one_of(st.sampled_from(sorted(target)), texts))
        target[key] = draw(poison_values())
        event("known type")
    else:
        event_type = draw(st.sampled_from(["survey.completed", "portal.ping"]))
        payload = draw(st.dictionaries(texts, poison_values(), max_size=3))
        event("unknown type")
    body: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "created_at": draw(st.sampled_from(["2026-11-28T10:00:00Z", "2026-11-28t10:00:00z"])),
        "data": payload,
    }
    if draw(st.integers(0, 4)) == 0:
        body[draw(texts)] = draw(poison_values())
    text = dump(body, ascii_only=draw(st.booleans()))
    # Raw lone surrogates (ascii_only False) become bytes that are not UTF-8, as from a portal.
    return text.encode("utf-8", errors="surrogatepass"), event_id


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_of(item)


def exact(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


@pytest.fixture
async def pool(database_url) -> AsyncIterator[AsyncConnectionPool]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE roundtrip_documents (id bigserial PRIMARY KEY, doc jsonb NOT NULL)")
        await conn.execute("CREATE TABLE roundtrip_strings (id bigserial PRIMARY KEY, value text NOT NULL)")
    db = await create_pool(database_url, name="storability")
    yield db
    await db.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(delivery=bodies())
async def test_what_the_validator_accepts_postgresql_stores_and_every_refusal_is_kept(pool, delivery):
    raw, event_id = delivery
    try:
        _, validated = parse_event(
            raw, content_type="application/json", webhook_id=event_id, portal_base_url=BASE_URL
        )
    except MalformedDelivery as malformed:
        event(f"refused 400 {malformed.reason.value}")
        await _kept(pool, malformed_rejection(malformed, raw, malformed.event_id or event_id), event_id)
        return
    except DataInvalid as invalid:
        event("refused 422")
        await _kept(pool, invalid_rejection(invalid, raw, event_id), event_id)
        return
    event("accepted")
    text = raw.decode("utf-8")
    strings = list(strings_of(exact(text)))
    if not isinstance(validated, UnknownEvent):
        strings += list(strings_of(validated.model_dump(mode="python")))
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "INSERT INTO roundtrip_documents (doc) VALUES (%s::jsonb) RETURNING doc::text", (text,)
        )
        row = await cursor.fetchone()
        assert row is not None
        assert exact(row[0]) == exact(text)
        cursor = await conn.execute(
            "INSERT INTO roundtrip_strings (value) SELECT unnest(%s::text[]) RETURNING value", (strings,)
        )
        assert [r[0] for r in await cursor.fetchall()] == strings
        await conn.commit()


async def _kept(pool: AsyncConnectionPool, rejection, event_id: str) -> None:
    assert 400 <= rejection.status_code < 500
    if rejection.status_code == 422:
        assert rejection.errors, "a 422 names at least one field"
    await store_rejections(pool, [rejection])
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT reason FROM rejected_deliveries WHERE event_id IS NOT DISTINCT FROM %s "
            "ORDER BY id DESC LIMIT 1",
            (rejection.event_id,),
        )
        row = await cursor.fetchone()
    assert row is not None, f"no rejected_deliveries row for {event_id}"
    assert row[0] == rejection.reason
