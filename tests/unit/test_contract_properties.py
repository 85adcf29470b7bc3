"""Property-based tests of the contract validators (hypothesis)."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import phonenumbers
import pycountry
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.contract.envelope import DataInvalid, MalformedDelivery, parse_event
from shared.contract.events import CandidateProfileData, EventType
from shared.contract.fields import e164_number, is_email_address
from tests.unit.test_contract_examples import BASE_URL, data

COUNTRIES = sorted(country.alpha_2 for country in pycountry.countries)
REGIONS_WITH_NUMBERS = sorted(
    region for region in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(region) is not None
)

words = st.text(alphabet=string.ascii_letters + " -'éø", min_size=1, max_size=30).filter(str.strip)
days = st.dates(min_value=date(1960, 1, 1), max_value=date(2030, 12, 31))
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
PHONE_MESSAGES = {"must be E.164, e.g. +442071234567", "not a possible phone number for its country code"}
emails = st.emails().filter(lambda e: len(e) <= 254)


@st.composite
def phones(draw) -> str:
    region = draw(st.sampled_from(REGIONS_WITH_NUMBERS))
    number = phonenumbers.example_number(region)
    assert number is not None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def dated(draw, *, end_optional: bool) -> tuple[str, str | None]:
    start = draw(days)
    if end_optional and draw(st.booleans()):
        return start.isoformat(), None
    end = start + timedelta(days=draw(st.integers(min_value=0, max_value=4000)))
    return start.isoformat(), end.isoformat()


@st.composite
def profiles(draw) -> dict[str, Any]:
    work = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        start, end = draw(dated(end_optional=True))
        entry = {"company": draw(words), "title": draw(words), "start_date": start, "current": end is None}
        if end is not None:
            entry["end_date"] = end
        work.append(entry)
    education = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        entry = {"institution": draw(words)}
        if draw(st.booleans()):
            entry["start_date"], entry["end_date"] = draw(dated(end_optional=False))
        education.append(entry)
    profile = {
        "id": "cand_" + draw(st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=22)),
        "first_name": draw(words),
        "last_name": draw(words),
        "email": draw(emails),
        "requisition_id": "REQ-" + str(draw(st.integers(min_value=1, max_value=9999))),
        "work_history": work,
        "education": education,
        "skills": draw(st.lists(words, max_size=20)),
        "consents": {"data_processing": True},
        "updated_at": draw(instants).isoformat().replace("+00:00", "Z"),
    }
    if draw(st.booleans()):
        profile["phone"] = draw(phones())
    if draw(st.booleans()):
        profile["location"] = {"city": draw(words), "country": draw(st.sampled_from(COUNTRIES))}
    return profile


def parse_profile(profile: dict[str, Any]):
    envelope = {"id": "evt_1", "type": "candidate.created", "created_at": "2026-11-28T10:00:00Z"}
    raw = json.dumps({**envelope, "data": {"candidate": profile}}).encode()
    return parse_event(raw, content_type="application/json", webhook_id="evt_1", portal_base_url=BASE_URL)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_property_generated_valid_profiles_validate(profile):
    _, event = parse_profile(profile)
    assert isinstance(event, CandidateProfileData)
    assert event.candidate.email == profile["email"]


# Each mutation breaks one rule and names the path that must be reported.
Mutation = tuple[Callable[[dict[str, Any], Any], object], st.SearchStrategy[Any], str]
MUTATIONS: dict[str, Mutation] = {
    "email": (
        lambda p, v: p.__setitem__("email", v),
        st.sampled_from(["x", "@a.com", "a@", "a b@c.com"]),
        "email",
    ),
    "phone": (lambda p, v: p.__setitem__("phone", v), st.from_regex(r"\A[0-9 ()-]{1,20}\Z"), "phone"),
    "country": (
        lambda p, v: p.__setitem__("location", {"city": "X", "country": v}),
        st.text(alphabet=string.ascii_letters, max_size=4).filter(lambda c: c not in COUNTRIES),
        "location.country",
    ),
    "id": (
        lambda p, v: p.__setitem__("id", v),
        st.text(max_size=10).filter(lambda s: not s.startswith("cand_")),
        "id",
    ),
    "consent": (
        lambda p, v: p["consents"].__setitem__("data_processing", v),
        st.just(False),
        "consents.data_processing",
    ),
    "skills": (lambda p, v: p.__setitem__("skills", ["s"] * v), st.integers(201, 400), "skills"),
}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles(), which=st.sampled_from(sorted(MUTATIONS)), data_=st.data())
def test_property_a_mutated_profile_fails_with_the_mutated_path(profile, which, data_):
    mutate, values, path = MUTATIONS[which]
    mutate(profile, data_.draw(values))
    with pytest.raises(DataInvalid) as caught:
        parse_profile(profile)
    assert [e.field for e in caught.value.errors] == [f"candidate.{path}"]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles(), data_=st.data())
def test_property_work_history_out_of_order_names_its_index(profile, data_):
    assume(profile["work_history"])
    index = data_.draw(st.integers(min_value=0, max_value=len(profile["work_history"]) - 1))
    entry = profile["work_history"][index]
    entry["end_date"] = (date.fromisoformat(entry["start_date"]) - timedelta(days=1)).isoformat()
    with pytest.raises(DataInvalid) as caught:
        parse_profile(profile)
    assert [e.field for e in caught.value.errors] == [f"candidate.work_history[{index}].start_date"]


# --- messages never carry the input ------------------------------------------------------------

junk = st.text(min_size=4, max_size=40).filter(lambda s: s.strip() and len(set(s)) > 2)


def error_pieces(value: str) -> list[str]:
    """Each text a rejection of `value` in every candidate field shows: the summary, the field
    paths and the messages, one by one, so a match can never straddle two of them."""
    payload = data("candidate.created")
    for field_name in ("email", "phone", "first_name", "id"):
        payload["candidate"][field_name] = value
    payload["candidate"]["location"]["country"] = value
    raw = json.dumps(
        {"id": "evt_1", "type": "candidate.created", "created_at": "2026-11-28T10:00:00Z", "data": payload}
    ).encode()
    try:
        parse_event(raw, content_type="application/json", webhook_id="evt_1", portal_base_url=BASE_URL)
    except (DataInvalid, MalformedDelivery) as exc:
        return [str(exc), *(e.field for e in exc.errors), *(e.message for e in exc.errors)]
    return []


# The fixed vocabulary of those rejections, from values of each shape the property draws. A drawn
# value that is part of it ("loca" of "candidate.location.country", "+44207" of the E.164
# example) says nothing about leaking, so it is assumed away; every other value must not appear.
FIXED_PIECES = {
    piece for reference in ("xyz!", "a@b.com..", "+12345678901234567") for piece in error_pieces(reference)
} | PHONE_MESSAGES


def test_fixed_pieces_hold_no_reference_value():
    # The vocabulary would hide leaks of the reference values themselves if it held them.
    assert not any(ref in piece for piece in FIXED_PIECES for ref in ("xyz!", "a@b.com..", "+1234567890123"))


@settings(max_examples=200)
@given(value=st.one_of(junk, emails.map(lambda e: e + ".."), st.from_regex(r"\A\+[0-9]{16,20}\Z")))
def test_property_error_messages_never_contain_the_input(value):
    assume(not any(value.strip() in piece for piece in FIXED_PIECES))
    pieces = error_pieces(value)
    assert pieces, "every drawn value is invalid in at least one field"
    assert all(value not in piece and value.strip() not in piece for piece in pieces)


@settings(max_examples=200)
@given(value=st.one_of(junk, st.from_regex(r"\A\+?[0-9]{3,20}\Z")))
def test_property_phone_errors_are_fixed_texts(value):
    payload = data("candidate.updated")
    payload["candidate"]["phone"] = value
    raw = json.dumps(
        {"id": "evt_1", "type": "candidate.updated", "created_at": "2026-11-28T10:00:00Z", "data": payload}
    ).encode()
    errors = []
    try:
        parse_event(raw, content_type="application/json", webhook_id="evt_1", portal_base_url=BASE_URL)
    except DataInvalid as exc:
        errors = list(exc.errors)
    assert all(e.message in PHONE_MESSAGES for e in errors)


# --- fast paths agree with the libraries -------------------------------------------------------


@st.composite
def near_emails(draw) -> str:
    """Strings shaped like addresses, with the characters and lengths that trip validators."""
    atom = st.text(alphabet=string.ascii_letters + string.digits + "_%+-.!#'", min_size=0, max_size=70)
    label = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=0, max_size=70)
    labels = draw(st.lists(label, min_size=1, max_size=4))
    tld = draw(
        st.sampled_from(["com", "uk", "x", "123", "test", "localhost", "invalid", "c0m", "xn--p1ai", ""])
    )
    return f"{draw(atom)}@{'.'.join([*labels, tld])}"


@settings(max_examples=500)
@given(near_emails())
def test_property_fast_path_email_check_agrees_with_email_validator(address):
    try:
        validate_email(address, check_deliverability=False)
        expected = True
    except EmailNotValidError:
        expected = False
    assert is_email_address(address) is expected


@settings(max_examples=300)
@given(st.one_of(emails, st.text(max_size=40)))
def test_property_email_check_agrees_with_email_validator(address):
    try:
        validate_email(address, check_deliverability=False)
        expected = True
    except EmailNotValidError:
        expected = False
    assert is_email_address(address) is expected


@pytest.mark.parametrize("region", REGIONS_WITH_NUMBERS)
def test_example_numbers_of_every_region_are_accepted_in_e164(region):
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        number = e164_number(text)
        assert number is not None
        assert phonenumbers.is_possible_number(number)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == text


@settings(max_examples=300)
@given(st.from_regex(r"\A\+[1-9][0-9]{1,14}\Z"))
def test_property_e164_reading_matches_phonenumbers_parse_when_nothing_is_stripped(text):
    number = e164_number(text)
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        assert number is None or not phonenumbers.is_possible_number(number)
        return
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != text:
        return  # parse stripped a trunk prefix: not E.164 as written, no comparison to make
    assert number is not None
    assert phonenumbers.is_possible_number(number) == phonenumbers.is_possible_number(parsed)


def test_event_type_list_is_complete():
    assert len(EventType) == 12
