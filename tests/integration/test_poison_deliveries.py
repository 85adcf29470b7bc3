"""Poison deliveries: refused at the door with the field named, and always traced, never a 5xx.

Every class the pipeline cannot store or compute with (NUL, lone surrogates, NaN/Infinity,
numbers beyond a double or ``numeric``'s scale, nesting deeper than 32) goes through the real
receiver and the real bulk import against a real PostgreSQL: the HTTP answer, the field it
names, the ``rejected_deliveries`` row (payload as JSON when PostgreSQL takes it, else the
body's text), nothing queued. Then what must still be accepted (unknown types that are
storable, lower-case ``z``), PostgreSQL down (503), and each fallback of the rejection store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from shared.contract.storable import MAX_DEPTH
from shared.db import create_pool
from shared.errors import FieldError
from shared.inbound.rejections import Rejection, store_rejections
from shared.migrate import apply_migrations
from shared.runtime import Runtime
from tests.support import events as ev


def marked(event: dict[str, Any], marker: str, literal: str) -> bytes:
    """The body of ``event`` with the JSON string ``"<marker>"`` replaced by a raw JSON text."""
    raw = ev.body_of(event)
    assert raw.count(f'"{marker}"'.encode()) == 1
    return raw.replace(f'"{marker}"'.encode(), literal.encode())


def profile(**extra: Any) -> dict[str, Any]:
    return ev.profile_event(ev.candidate(**extra))


def unknown(data: dict[str, Any]) -> dict[str, Any]:
    return ev.envelope("survey.completed", data)


def screening(score_literal: str) -> bytes:
    return marked(ev.screening_event("cand_1", "S"), "S", score_literal)


# (case, body, status, reason, first field named or None, payload form)
POISON: list[tuple[str, Callable[[], bytes], int, str, str | None, str]] = [
    ("NUL in an unknown field", lambda: ev.body_of(profile(nickname="Ada\u0000")), 422, "invalid_data",
     "candidate.nickname", "string"),
    ("NUL in a key", lambda: ev.body_of(profile(extra={"a\u0000": 1})), 422, "invalid_data",
     'candidate.extra["a\\u0000"]', "string"),
    ("NUL in an unknown type's data", lambda: ev.body_of(unknown({"note": "\u0000"})), 400,
     "malformed:unstorable", "data.note", "string"),
    ("NUL in the type", lambda: ev.body_of(ev.envelope("survey\u0000done", {})), 400, "malformed:envelope",
     "type", "string"),
    ("escaped lone surrogate", lambda: ev.body_of(profile(first_name="Ada\ud800")), 422, "invalid_data",
     "candidate.first_name", "string"),
    ("lone surrogate in an unknown envelope field", lambda: ev.body_of({**profile(), "trace": "\udfff"}),
     400, "malformed:unstorable", "trace", "string"),
    ("surrogate as raw bytes", lambda: ev.body_of(profile(headline="RAW")).replace(b"RAW", b"\xed\xa0\x80"),
     400, "malformed:not_json", None, "string"),
    ("NaN", lambda: screening("NaN"), 400, "malformed:not_json", "data.screening.score", "string"),
    ("-Infinity", lambda: screening("-Infinity"), 400, "malformed:not_json", "data.screening.score",
     "string"),
    ("1e400 as a score", lambda: screening("1e400"), 422, "invalid_data", "screening.score", "object"),
    ("1e400 in an unknown type", lambda: marked(unknown({"n": "N"}), "N", "1e400"), 400,
     "malformed:unstorable", "data.n", "object"),
    ("an integer of 5000 digits", lambda: marked(profile(rank="N"), "N", "7" * 5000), 422, "invalid_data",
     "candidate.rank", "object"),
    ("more fraction digits than numeric holds", lambda: marked(profile(rank="N"), "N", "1e-16384"), 422,
     "invalid_data", "candidate.rank", "string"),
    ("an array nested 1,000 deep", lambda: marked(unknown({"deep": "D"}), "D", "[" * 1000 + "]" * 1000),
     400, "malformed:not_json", "data.deep" + "[0]" * (MAX_DEPTH - 2), "string"),
    ("nesting one level too deep", lambda: marked(profile(deep="D"), "D", "[" * 30 + "]" * 30), 400,
     "malformed:not_json", "data.candidate.deep" + "[0]" * (MAX_DEPTH - 3), "string"),
]  # fmt: skip


def rejected_rows(pipeline) -> list[dict[str, Any]]:
    return pipeline.rows(
        "SELECT status_code, reason, event_id, event_type, errors, payload::text AS payload_text, "
        "jsonb_typeof(payload) AS form FROM rejected_deliveries ORDER BY id"
    )


def as_exact_json(text: str) -> Any:
    # Integers as Decimal too: Python refuses to read integers over 4300 digits.
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def assert_payload_kept(row: dict[str, Any], raw: bytes, form: str) -> None:
    assert row["form"] == form
    if form == "string":
        # the body's text as it arrived (escapes such as \u0000 stay the six characters they were)
        assert json.loads(row["payload_text"]) == raw.decode("utf-8", errors="backslashreplace")
    else:
        assert as_exact_json(row["payload_text"]) == as_exact_json(raw.decode())


def sign_bytes(secret: str, webhook_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for any bytes (the reference library signs text only, and
    some of these bodies are not UTF-8 on purpose)."""
    timestamp = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


async def deliver(pipeline, raw: bytes, webhook_id: str):
    return await pipeline.runtime.receiver.receive(sign_bytes(pipeline.secret, webhook_id, raw), raw)


def event_id_in(raw: bytes) -> str:
    start = raw.index(b'"evt_') + 1
    return raw[start : raw.index(b'"', start)].decode()


@pytest.mark.parametrize(
    ("case", "make", "status", "reason", "field", "form"), POISON, ids=[p[0] for p in POISON]
)
async def test_each_poison_delivery_is_refused_naming_its_field_and_kept(
    pipeline, case, make, status, reason, field, form
):
    raw = make()
    event_id = event_id_in(raw)
    answer = await deliver(pipeline, raw, event_id)
    assert answer.status == status
    assert answer.content_type == "application/problem+json"
    problem = json.loads(answer.body)
    named = [e["field"] for e in problem["errors"]]
    if field is None:
        assert named == []
    else:
        assert named[0] == field
    assert await pipeline.queued() == []
    [row] = rejected_rows(pipeline)
    assert (row["status_code"], row["reason"], row["event_id"]) == (status, reason, event_id)
    assert [e["field"] for e in row["errors"]] == named
    assert_payload_kept(row, raw, form)


async def test_the_type_of_a_refused_body_is_kept_escaped(pipeline):
    raw = ev.body_of(ev.envelope("survey\u0000done", {}))
    answer = await deliver(pipeline, raw, event_id_in(raw))
    assert answer.status == 400
    [row] = rejected_rows(pipeline)
    assert row["event_type"] == "survey\\u0000done"


async def test_a_missing_consent_with_nul_keeps_no_payload(pipeline):
    event = profile(consents={"data_processing": False}, nickname="\u0000")
    answer = await pipeline.post(event)
    assert answer.status == 422
    [row] = rejected_rows(pipeline)
    assert (row["reason"], row["form"]) == ("consent_missing", None)


async def test_an_unknown_type_with_a_storable_body_is_still_accepted(pipeline):
    event = unknown({"answers": [{"q": "Résumé 😀", "score": 4.5}], "nested": {"a": {"b": [[1]]}}})
    assert (await pipeline.post(event)).status == 202
    [queued] = await pipeline.queued()
    assert queued["message_id"] == event["id"]


async def test_lower_case_z_is_accepted_and_queued_as_sent(pipeline):
    event = ev.offer_event("cand_1", str(uuid.uuid4()))
    event["created_at"] = "2026-11-28t10:00:00z"
    event["data"]["offer"]["responded_at"] = "2026-11-28T11:00:00z"
    headers, raw = ev.signed(pipeline.secret, event)
    assert (await pipeline.runtime.receiver.receive(headers, raw)).status == 202
    [queued] = await pipeline.queued()
    assert bytes(queued["body"]) == raw


async def test_postgresql_unreachable_still_answers_503_for_a_poison_delivery(app_environ):
    runtime = await Runtime.from_environ(
        {**app_environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/x"}
    )
    try:
        raw = screening("NaN")
        headers = {
            **ev.sign(app_environ["PORTAL_WEBHOOK_SECRETS"], event_id_in(raw), raw),
            "content-type": "application/json",
        }
        answer = await runtime.receiver.receive(headers, raw)
        assert answer.status == 503
        assert answer.headers.get("Retry-After")
    finally:
        await runtime.close()


# --- the bulk import ---------------------------------------------------------------------


async def test_an_import_reports_each_poison_line_invalid_and_takes_the_rest(pipeline):
    good = [profile() for _ in range(3)]
    poison = [
        ev.body_of(profile(nickname="\u0000")),
        ev.body_of(profile(first_name="\ud800")),
        marked(profile(rank="N"), "N", "NaN"),
        marked(profile(rank="N"), "N", "1e400"),
        marked(profile(deep="D"), "D", "[" * 1000 + "]" * 1000),
        ev.body_of(profile(headline="RAW")).replace(b"RAW", b"\xff\xfe"),
    ]
    lines = [ev.body_of(good[0]), *poison[:3], ev.body_of(good[1]), *poison[3:], ev.body_of(good[2])]
    body = b"\n".join(lines) + b"\n"
    batch_id = ev.uid("bat_")
    headers = {**sign_bytes(pipeline.secret, batch_id, body), "content-type": "application/x-ndjson"}
    answer = await pipeline.runtime.importer.receive(headers, body)
    assert answer.status == 200
    report = json.loads(answer.body)
    assert (report["accepted"], report["invalid"]) == (3, 6)
    results = {r["line"]: r for r in report["results"]}
    assert [results[n]["status"] for n in range(1, 10)] == [
        "accepted", "invalid", "invalid", "invalid", "accepted", "invalid", "invalid", "invalid", "accepted",
    ]  # fmt: skip
    fields = {n: [e["field"] for e in results[n].get("errors", [])] for n in (2, 3, 4, 6, 7, 8)}
    assert fields == {
        2: ["candidate.nickname"],
        3: ["candidate.first_name"],
        4: ["data.candidate.rank"],
        6: ["candidate.rank"],
        7: ["data.candidate.deep" + "[0]" * (MAX_DEPTH - 3)],
        8: [""],  # not UTF-8: the body as a whole, no field
    }
    assert {m["message_id"] for m in await pipeline.queued()} == {e["id"] for e in good}
    rows = rejected_rows(pipeline)
    assert [(r["status_code"], r["form"]) for r in rows] == [
        (422, "string"), (422, "string"), (400, "string"), (422, "object"), (400, "string"), (400, "string"),
    ]  # fmt: skip
    for row, raw in zip(rows, poison, strict=True):
        assert_payload_kept(row, raw, row["form"])


# --- the rejection store's fallbacks -------------------------------------------------------


async def test_a_body_postgresql_refuses_as_json_is_kept_as_text_even_when_not_foreseen(pipeline):
    # as_json claims the body is fine; PostgreSQL refuses the NUL escape: the text form is kept,
    # and the batch's other rejection is kept as JSON beside it.
    bad = ev.body_of(unknown({"x": "\u0000"}))
    fine = ev.body_of(profile(email="broken"))
    await store_rejections(
        pipeline.runtime.db,
        [
            Rejection(422, "invalid_data", "evt_a", "t", [FieldError("x", "m")], bad, as_json=True),
            Rejection(422, "invalid_data", "evt_b", "t", [FieldError("y", "m")], fine, as_json=True),
        ],
    )
    rows = rejected_rows(pipeline)
    assert [(r["event_id"], r["form"]) for r in rows] == [("evt_a", "string"), ("evt_b", "object")]
    assert_payload_kept(rows[0], bad, "string")
    assert_payload_kept(rows[1], fine, "object")


async def test_nul_bytes_and_invalid_utf8_are_kept_as_visible_escapes(pipeline):
    raw = b'{"id": "evt_1", "x": "a\x00b\xff"}'
    await store_rejections(pipeline.runtime.db, [Rejection(400, "malformed:not_json", "evt_1", body=raw)])
    [row] = rejected_rows(pipeline)
    assert json.loads(row["payload_text"]) == '{"id": "evt_1", "x": "a\\x00b\\xff"}'


@pytest.fixture
def latin1_database_url(postgres_admin_url):
    """A database whose encoding cannot hold emoji: where even the text form is refused."""
    name = f"test_latin1_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_without_any_storable_form_the_rejection_is_kept_without_payload(latin1_database_url):
    pool = await create_pool(latin1_database_url, name="latin1")
    try:
        # raw UTF-8 (not \u escapes): LATIN1 refuses it as jsonb and as text alike
        raw = json.dumps(profile(headline="\U0001f600", email="broken"), ensure_ascii=False).encode()
        await store_rejections(
            pool,
            [
                Rejection(
                    422,
                    "invalid_data",
                    "evt_1",
                    "candidate.created",
                    [FieldError("f", "m")],
                    raw,
                    as_json=True,
                )
            ],
        )
    finally:
        await pool.close()
    with psycopg.connect(latin1_database_url, row_factory=dict_row) as conn:
        [row] = conn.execute("SELECT event_id, reason, errors, payload FROM rejected_deliveries").fetchall()
    assert row == {
        "event_id": "evt_1",
        "reason": "invalid_data",
        "errors": [{"field": "f", "message": "m"}],
        "payload": None,
    }
