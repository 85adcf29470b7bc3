"""What the pipeline cannot store or compute with is refused at the door, naming the field.

Every poison class (NUL, lone surrogates, non-JSON numbers, numbers beyond a double or beyond
``numeric``'s scale, nesting deeper than 32) through ``parse_event``/``parse_import_line``, with
its status, reason and field path; the path finder for bodies too deep for the decoder; the
escapes that keep identifiers storable. The round trip through a real PostgreSQL is
``tests/integration/test_storability.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract.envelope import (
    DataInvalid,
    MalformedDelivery,
    MalformedReason,
    decode_json_object,
    parse_event,
    parse_import_line,
    validate_envelope_object,
)
from shared.contract.events import (
    CandidateProfileData,
    InterviewAnswerData,
    OfferAnswerData,
    ScreeningCompletedData,
    UnknownEvent,
)
from shared.contract.storable import (
    MAX_DEPTH,
    MAX_REPORTED,
    ProblemKind,
    deep_container_path,
    escape_unstorable,
    find_problems,
    format_path,
)
from tests.unit.test_contract_examples import BASE_URL, body, data, envelope

NUL = ProblemKind.NUL.value
SURROGATE = ProblemKind.SURROGATE.value
TOO_LARGE = ProblemKind.NUMBER_TOO_LARGE.value
TOO_MANY_DIGITS = ProblemKind.TOO_MANY_FRACTION_DIGITS.value
NOT_A_NUMBER = ProblemKind.NOT_A_JSON_NUMBER.value
TOO_DEEP = ProblemKind.TOO_DEEP.value


def parse(raw: bytes, *, webhook_id: str = "evt_1"):
    return parse_event(raw, content_type="application/json", webhook_id=webhook_id, portal_base_url=BASE_URL)


def refused(raw: bytes) -> MalformedDelivery | DataInvalid:
    with pytest.raises((MalformedDelivery, DataInvalid)) as caught:
        parse(raw)
    error = caught.value
    assert isinstance(error, MalformedDelivery | DataInvalid)
    return error


def profile_with(**extra: Any) -> dict[str, Any]:
    payload = data("candidate.created")
    payload["candidate"].update(extra)
    return envelope("candidate.created", payload)


def unknown_with(payload: dict[str, Any]) -> dict[str, Any]:
    return envelope("survey.completed", payload)


def with_number(event: dict[str, Any], marker: str, literal: str) -> bytes:
    """The body of ``event`` with the JSON string ``"<marker>"`` replaced by a raw literal."""
    raw = body(event)
    assert raw.count(f'"{marker}"'.encode()) == 1
    return raw.replace(f'"{marker}"'.encode(), literal.encode())


def score_marker() -> dict[str, Any]:
    """A screening's data whose score is the marker ``"S"``, for :func:`with_number`."""
    payload = data("screening.completed")
    payload["screening"]["score"] = "S"
    return payload


def nested(depth: int) -> str:
    """``depth`` arrays, one inside the other."""
    return "[" * depth + "]" * depth


# (case, body, status, reason, [(field, message)])
CASES: list[tuple[str, bytes, int, str | None, list[tuple[str, str]]]] = [
    # --- NUL ------------------------------------------------------------------------------
    (
        "NUL in a known field",
        body(profile_with(headline="Analyst\u0000")),
        422,
        None,
        [("candidate.headline", NUL)],
    ),
    (
        "NUL in an unknown field of a known type",
        body(profile_with(nickname="Ada\u0000")),
        422,
        None,
        [("candidate.nickname", NUL)],
    ),
    (
        "NUL deep in an unknown field",
        body(profile_with(extra={"notes": [{"text": "ok"}, {"text": "\u0000"}]})),
        422,
        None,
        [("candidate.extra.notes[1].text", NUL)],
    ),
    (
        "NUL in a key",
        body(profile_with(extra={"bad\u0000key": 1})),
        422,
        None,
        [('candidate.extra["bad\\u0000key"]', ProblemKind.KEY_NUL.value)],
    ),
    (
        "NUL in an unknown type's data",
        body(unknown_with({"answers": ["fine", "not\u0000fine"]})),
        400,
        "unstorable",
        [("data.answers[1]", NUL)],
    ),
    (
        "NUL in an unknown envelope field",
        body({**envelope("candidate.created"), "trace": "\u0000"}),
        400,
        "unstorable",
        [("trace", NUL)],
    ),
    (
        "NUL in the type",
        body(envelope("survey\u0000completed", {"x": 1})),
        400,
        "envelope",
        [("type", NUL)],
    ),
    # --- lone surrogates -------------------------------------------------------------------
    (
        "escaped lone high surrogate in a known field",
        body(profile_with(first_name="Ada\ud800")),
        422,
        None,
        [("candidate.first_name", SURROGATE)],
    ),
    (
        "escaped lone low surrogate in an unknown field",
        body(profile_with(nickname="\udc00")),
        422,
        None,
        [("candidate.nickname", SURROGATE)],
    ),
    (
        "lone surrogate in a key of an unknown type's data",
        body(unknown_with({"k\ud800": "v"})),
        400,
        "unstorable",
        [('data["k\\ud800"]', ProblemKind.KEY_SURROGATE.value)],
    ),
    (
        "surrogate as raw bytes (not UTF-8)",
        body(profile_with(headline="SURROGATE")).replace(b"SURROGATE", b"\xed\xa0\x80"),
        400,
        "not_json",
        [],
    ),
    # --- numbers that are not JSON ---------------------------------------------------------
    (
        "NaN as a score",
        with_number(envelope("screening.completed", score_marker()), "S", "NaN"),
        400,
        "not_json",
        [("data.screening.score", NOT_A_NUMBER)],
    ),
    (
        "Infinity in an unknown type",
        with_number(unknown_with({"x": [1, "INF"]}), "INF", "Infinity"),
        400,
        "not_json",
        [("data.x[1]", NOT_A_NUMBER)],
    ),
    (
        "-Infinity in an unknown envelope field",
        with_number({**envelope("candidate.created"), "t": "INF"}, "INF", "-Infinity"),
        400,
        "not_json",
        [("t", NOT_A_NUMBER)],
    ),
    # --- numbers out of range --------------------------------------------------------------
    (
        "1e400 in an unknown field of a known type",
        with_number(profile_with(rank="N"), "N", "1e400"),
        422,
        None,
        [("candidate.rank", TOO_LARGE)],
    ),
    (
        "-1e400 in an unknown type",
        with_number(unknown_with({"n": "N"}), "N", "-1e400"),
        400,
        "unstorable",
        [("data.n", TOO_LARGE)],
    ),
    (
        "an integer of 5000 digits",
        with_number(unknown_with({"n": "N"}), "N", "9" * 5000),
        400,
        "unstorable",
        [("data.n", TOO_LARGE)],
    ),
    (
        "an integer of 400 digits in a known type",
        with_number(profile_with(rank="N"), "N", "1" + "0" * 400),
        422,
        None,
        [("candidate.rank", TOO_LARGE)],
    ),
    (
        "more digits after the point than numeric holds",
        with_number(profile_with(rank="N"), "N", "0." + "0" * 16383 + "1"),
        422,
        None,
        [("candidate.rank", TOO_MANY_DIGITS)],
    ),
    (
        "an exponent below numeric's scale",
        with_number(unknown_with({"n": "N"}), "N", "1e-16384"),
        400,
        "unstorable",
        [("data.n", TOO_MANY_DIGITS)],
    ),
    # --- nesting ---------------------------------------------------------------------------
    (
        "an array nested 1,000 deep (beyond the decoder)",
        with_number(unknown_with({"deep": "D"}), "D", nested(1000)),
        400,
        "not_json",
        [("data.deep" + "[0]" * (MAX_DEPTH - 2), TOO_DEEP)],
    ),
    (
        "an array nested 100 deep (within the decoder)",
        with_number(profile_with(deep="D"), "D", nested(100)),
        400,
        "not_json",
        [("data.candidate.deep" + "[0]" * (MAX_DEPTH - 3), TOO_DEEP)],
    ),
    (
        "one level too deep",
        with_number(unknown_with({"deep": "D"}), "D", nested(MAX_DEPTH - 1)),
        400,
        "not_json",
        [("data.deep" + "[0]" * (MAX_DEPTH - 2), TOO_DEEP)],
    ),
]


@pytest.mark.parametrize(("case", "raw", "status", "reason", "errors"), CASES, ids=[c[0] for c in CASES])
def test_each_poison_class_is_refused_naming_its_field(case, raw, status, reason, errors):
    error = refused(raw)
    assert error.status_code == status
    if reason is not None:
        assert isinstance(error, MalformedDelivery)
        assert error.reason is MalformedReason(reason)
    assert [(e.field, e.message) for e in error.errors] == errors
    # every field and message is itself storable text
    for e in error.errors:
        assert escape_unstorable(e.field) == e.field
        assert escape_unstorable(e.message) == e.message


def test_the_deepest_nesting_allowed_is_accepted():
    raw = with_number(unknown_with({"deep": "D"}), "D", nested(MAX_DEPTH - 2))
    _, event = parse(raw)
    assert event == UnknownEvent("survey.completed")


def test_an_unknown_type_whose_whole_body_is_storable_is_accepted():
    raw = with_number(unknown_with({"a": ["\u00e9\U0001f600", {"k": 1.5}], "n": "N"}), "N", "1e308")
    _, event = parse(raw)
    assert isinstance(event, UnknownEvent)


def test_a_surrogate_pair_escaped_is_one_character_and_accepted():
    raw = body(profile_with(first_name="A"))
    raw = raw.replace(b'"first_name": "A"', b'"first_name": "Ada \\ud83d\\ude00"')
    _, event = parse(raw)
    assert isinstance(event, CandidateProfileData)
    assert event.candidate.first_name == "Ada \U0001f600"


def test_problems_are_listed_together_and_the_model_rule_wins_on_its_own_field():
    event = profile_with(email="x\u0000@example.com", headline="\u0000", nickname="\ud800")
    error = refused(body(event))
    assert isinstance(error, DataInvalid)
    assert [(e.field, e.message) for e in error.errors] == [
        ("candidate.email", "not a valid email address"),
        ("candidate.headline", NUL),
        ("candidate.nickname", SURROGATE),
    ]


def test_unreadable_numbers_come_before_the_content_type():
    raw = with_number(unknown_with({"n": "N"}), "N", "NaN")
    with pytest.raises(MalformedDelivery) as caught:
        parse_event(raw, content_type="text/plain", webhook_id="evt_1", portal_base_url=BASE_URL)
    assert caught.value.reason is MalformedReason.NOT_JSON
    assert caught.value.event_id == "evt_1"


def test_a_missing_consent_with_nul_is_still_a_consent_failure():
    payload = data("candidate.created")
    payload["candidate"]["consents"]["data_processing"] = False
    payload["candidate"]["nickname"] = "\u0000"
    with pytest.raises(DataInvalid) as caught:
        parse(body(envelope("candidate.created", payload)))
    assert caught.value.consent_missing


def test_import_lines_follow_the_same_rules():
    with pytest.raises(DataInvalid) as caught:
        parse_import_line(body(profile_with(nickname="\u0000")), portal_base_url=BASE_URL)
    assert [e.field for e in caught.value.errors] == ["candidate.nickname"]
    with pytest.raises(MalformedDelivery) as deep:
        parse_import_line(with_number(profile_with(deep="D"), "D", nested(1000)), portal_base_url=BASE_URL)
    assert deep.value.reason is MalformedReason.NOT_JSON
    assert deep.value.errors[0].message == TOO_DEEP


def test_validate_envelope_object_applies_the_rules_to_objects_decoded_elsewhere():
    obj = json.loads(body(profile_with(nickname="\u0000")))
    with pytest.raises(DataInvalid):
        validate_envelope_object(obj, portal_base_url=BASE_URL)
    obj = profile_with()
    obj["data"]["candidate"]["rank"] = float("nan")
    with pytest.raises(MalformedDelivery) as caught:
        validate_envelope_object(obj, portal_base_url=BASE_URL)
    assert [e.field for e in caught.value.errors] == ["data.candidate.rank"]


def test_identifiers_of_a_refused_body_are_kept_storable():
    event = envelope("survey\u0000completed", {"x": 1}, event_id="evt_1")
    error = refused(body(event))
    assert isinstance(error, MalformedDelivery)
    assert error.event_type == "survey\\u0000completed"


# --- times ---------------------------------------------------------------------------------


def test_lower_case_z_is_the_same_instant_as_upper_case_z():
    upper = data("interview.scheduled")
    lower = data("interview.scheduled")
    upper["interview"]["scheduled_start"] = "2026-11-28T10:00:00Z"
    lower["interview"]["scheduled_start"] = "2026-11-28t10:00:00z"
    _, a = parse(body(envelope("interview.scheduled", upper)))
    _, b = parse(body(envelope("interview.scheduled", lower)))
    assert isinstance(a, InterviewAnswerData)
    assert isinstance(b, InterviewAnswerData)
    ten = datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert a.interview.scheduled_start == b.interview.scheduled_start == ten
    assert b.interview.scheduled_start is not None
    assert b.interview.scheduled_start.utcoffset() is not None


def test_an_envelope_time_with_lower_case_z_is_aware():
    event = envelope("offer.accepted")
    event["created_at"] = "2026-11-28t10:00:00z"
    event["data"]["offer"]["responded_at"] = "2026-11-28T11:00:00z"
    env, offer = parse(body(event))
    assert env.created_at == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert isinstance(offer, OfferAnswerData)
    assert offer.offer.responded_at == datetime(2026, 11, 28, 11, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_an_instant_outside_years_1_to_9999_in_utc_is_refused(value):
    event = envelope("offer.accepted")
    event["data"]["offer"]["responded_at"] = value
    error = refused(body(event))
    assert [(e.field, e.message) for e in error.errors] == [
        ("offer.responded_at", "must be an instant between years 0001 and 9999 in UTC")
    ]


def test_validated_scores_are_decimals_as_written():
    raw = with_number(envelope("screening.completed", score_marker()), "S", "82.50")
    _, event = parse(raw)
    assert isinstance(event, ScreeningCompletedData)
    assert event.screening.score == Decimal("82.50")
    assert str(event.screening.score) == "82.50"


# --- paths and the finder for bodies beyond the decoder ------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("candidate", "work_history", 0, "start_date"), "candidate.work_history[0].start_date"),
        (("data", "0"), 'data["0"]'),
        (("data", "a.b", 2), 'data["a.b"][2]'),
        (("x\u0000",), '["x\\u0000"]'),
        (("k" * 100,), '["' + "k" * 64 + '..."]'),
        ((), ""),
    ],
)
def test_format_path(path, text):
    assert format_path(path) == text


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=5))


@st.composite
def deep_documents(draw) -> tuple[str, tuple[str | int, ...]]:
    """A JSON text nested deeper than the limit along one branch, with siblings around it."""
    depth = draw(st.integers(MAX_DEPTH + 1, MAX_DEPTH + 40))
    value: Any = []
    for _ in range(depth - 1):
        if draw(st.booleans()):
            siblings = draw(st.dictionaries(st.text(max_size=4), json_leaves, max_size=3))
            key = draw(st.text(max_size=6))
            value = {**{k: v for k, v in siblings.items() if k != key}, key: value}
        else:
            before = draw(st.lists(json_leaves, max_size=3))
            value = [*before, value, *draw(st.lists(json_leaves, max_size=2))]
    text = json.dumps(value)
    problems = find_problems(json.loads(text))
    [problem] = problems.unreadable
    return text, problem.path


@given(deep_documents())
def test_the_text_scanner_finds_the_path_the_walk_finds(document):
    text, path = document
    assert deep_container_path(text) == path


def test_the_text_scanner_ignores_brackets_inside_strings():
    text = json.dumps({"s": "[[[[{{{{" * 20, "a": [[1]]})
    assert deep_container_path(text) is None


def test_a_body_too_deep_for_the_decoder_is_not_json_naming_the_path():
    raw = b'{"id": "evt_1", "data": {"k": ' + nested(5000).encode() + b"}}"
    with pytest.raises(MalformedDelivery) as caught:
        decode_json_object(raw)
    assert caught.value.reason is MalformedReason.NOT_JSON
    assert [e.field for e in caught.value.errors] == ["data.k" + "[0]" * (MAX_DEPTH - 2)]


@given(st.text())
def test_escaped_text_is_always_storable_and_unchanged_when_clean(text):
    escaped = escape_unstorable(text)
    assert "\x00" not in escaped
    escaped.encode("utf-8")  # no lone surrogate left
    if "\x00" not in text and all(not 0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert escaped == text


def test_decoding_never_hands_out_a_nan_and_names_it():
    # The processor decodes queued bodies with decode_json_object: a NaN must never reach it
    # as a value it might try to store.
    with pytest.raises(MalformedDelivery) as caught:
        decode_json_object(b'{"id": "evt_1", "data": {"x": [1, NaN]}}')
    assert caught.value.reason is MalformedReason.NOT_JSON
    assert [e.field for e in caught.value.errors] == ["data.x[1]"]
    assert caught.value.event_id == "evt_1"
    long_integer = decode_json_object(b'{"n": ' + b"9" * 5000 + b"}")
    assert long_integer["n"] == Decimal("9" * 5000)


def test_at_most_twenty_problems_of_a_kind_are_listed_but_every_one_counts():
    obj = {"data": {"n": [Decimal("1e400")] * 30, "s": ["\u0000"] * 30}}
    problems = find_problems(obj)
    assert len(problems.unstorable) == MAX_REPORTED
    assert {p.kind for p in problems.unstorable} == {ProblemKind.NUMBER_TOO_LARGE}
    assert problems.refused_by_jsonb  # the NULs beyond the list still decide how it is kept


# --- the fast path ------------------------------------------------------------------------------

#: Raw JSON pieces that may or may not break a rule, to be combined into documents.
_PIECES = st.sampled_from(
    [
        '"plain"',
        '"caf\\u00e9"',
        '"a\\u0000b"',
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        '"\\\\u0000"',
        "1",
        "-2.5",
        "1e308",
        "1e309",
        "1e-400",
        "1" + "0" * 299,
        "1" + "0" * 400,
        "0." + "1" * 300,
        "true",
        "null",
        '"NaN"',
        '"Infinity"',
    ]
)


@st.composite
def raw_documents(draw: st.DrawFn) -> bytes:
    """A JSON object text of nested objects and arrays around the pieces above."""
    depth = draw(st.integers(0, 40))
    inner = draw(_PIECES)
    for level in range(depth):
        inner = f'{{"k{level}": {inner}}}' if draw(st.booleans()) else f"[{inner}, {draw(_PIECES)}]"
    return f'{{"id": "evt_x", "v": {inner}}}'.encode()


@given(raw_documents())
def test_what_the_fast_path_passes_the_full_walk_passes_too(raw: bytes) -> None:
    from shared.contract.storable import clearly_storable

    decoded = json.loads(raw, parse_float=Decimal)
    if clearly_storable(raw):
        found = find_problems(decoded)
        assert not found.unreadable
        assert not found.unstorable
        assert not found.refused_by_jsonb


def test_the_fast_path_takes_the_common_body_and_leaves_every_poison_class_to_the_walk() -> None:
    from shared.contract.storable import clearly_storable

    assert clearly_storable(json.dumps(envelope("candidate.created", data("candidate.created"))).encode())
    for poison in ('"\\u0000"', '"\\udc00"', "1e400", "NaN", "1" + "0" * 400, "[" * 33 + "]" * 33):
        assert not clearly_storable(f'{{"v": {poison}}}'.encode()), poison
