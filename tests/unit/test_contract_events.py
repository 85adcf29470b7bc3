"""Delivery parsing: every rule of the contract, its field path, its status and its message."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.contract.envelope import (
    ConsentMissing,
    DataInvalid,
    MalformedDelivery,
    MalformedReason,
    is_json_content_type,
    parse_event,
    parse_import_line,
    validate_envelope_object,
)
from shared.contract.events import (
    AssessmentData,
    CandidateProfileData,
    EventType,
    InterviewAnswerData,
    ScreeningCompletedData,
    UnknownEvent,
)
from shared.contract.fields import is_under_base_url
from tests.unit.test_contract_examples import BASE_URL, body, data, envelope

_MISSING = object()


def parse(raw: bytes, *, content_type: str | None = "application/json", webhook_id: str = "evt_1"):
    return parse_event(raw, content_type=content_type, webhook_id=webhook_id, portal_base_url=BASE_URL)


def with_change(event_type: str, path: str, value: Any) -> dict[str, Any]:
    """The valid data of ``event_type`` with the dotted ``path`` set to ``value`` (or removed)."""
    payload = data(event_type)
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node: Any = payload
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is _MISSING:
        del node[key]
    else:
        node[key] = value
    return payload


def rejected_data(event_type: str, path: str, value: Any) -> DataInvalid:
    raw = body(envelope(event_type, with_change(event_type, path, value)))
    with pytest.raises(DataInvalid) as caught:
        parse(raw)
    return caught.value


# --- every rule, broken one at a time: (type, path changed, new value, error field, message) ---

RULES = [
    # candidate profile
    ("candidate.created", "candidate.id", "usr_1", "candidate.id", "must start with 'cand_'"),
    ("candidate.created", "candidate.id", "cand_", "candidate.id", "must be 'cand_' followed by"),
    ("candidate.created", "candidate.id", "cand_a b", "candidate.id", "must be 'cand_' followed by"),
    ("candidate.created", "candidate.id", _MISSING, "candidate.id", "field required"),
    (
        "candidate.created",
        "candidate.ats_candidate_id",
        "not-a-uuid",
        "candidate.ats_candidate_id",
        "must be a UUID",
    ),
    ("candidate.created", "candidate.first_name", "  ", "candidate.first_name", "must not be empty"),
    ("candidate.created", "candidate.last_name", None, "candidate.last_name", "must be a string"),
    (
        "candidate.created",
        "candidate.email",
        "ada.example.com",
        "candidate.email",
        "not a valid email address",
    ),
    (
        "candidate.created",
        "candidate.email",
        "ada@@example.com",
        "candidate.email",
        "not a valid email address",
    ),
    (
        "candidate.created",
        "candidate.email",
        "Ada <ada@example.com>",
        "candidate.email",
        "not a valid email address",
    ),
    ("candidate.created", "candidate.email", "ada@localhost", "candidate.email", "not a valid email address"),
    ("candidate.created", "candidate.email", 42, "candidate.email", "must be a string"),
    (
        "candidate.updated",
        "candidate.phone",
        "02071234567",
        "candidate.phone",
        "must be E.164, e.g. +442071234567",
    ),
    ("candidate.updated", "candidate.phone", "+44 20 7123 4567", "candidate.phone", "must be E.164"),
    ("candidate.updated", "candidate.phone", "+4420712345678901", "candidate.phone", "must be E.164"),
    ("candidate.updated", "candidate.phone", "+44207", "candidate.phone", "not a possible phone number"),
    ("candidate.updated", "candidate.phone", "+999123456", "candidate.phone", "must be E.164"),
    (
        "candidate.updated",
        "candidate.location.country",
        "UK",
        "candidate.location.country",
        "ISO 3166-1 alpha-2",
    ),
    (
        "candidate.updated",
        "candidate.location.country",
        "gb",
        "candidate.location.country",
        "ISO 3166-1 alpha-2",
    ),
    (
        "candidate.updated",
        "candidate.location.country",
        "GBR",
        "candidate.location.country",
        "ISO 3166-1 alpha-2",
    ),
    ("candidate.updated", "candidate.location.city", _MISSING, "candidate.location.city", "field required"),
    ("candidate.updated", "candidate.location", "London", "candidate.location", "must be an object"),
    ("candidate.created", "candidate.requisition_id", "", "candidate.requisition_id", "must not be empty"),
    (
        "candidate.created",
        "candidate.work_history[0].start_date",
        "2023-07-01",
        "candidate.work_history[0].start_date",
        "start_date is after end_date",
    ),
    (
        "candidate.created",
        "candidate.work_history[0].start_date",
        "01/03/2019",
        "candidate.work_history[0].start_date",
        "must be a date as YYYY-MM-DD",
    ),
    (
        "candidate.created",
        "candidate.work_history[0].end_date",
        "2023-02-30",
        "candidate.work_history[0].end_date",
        "must be a date as YYYY-MM-DD",
    ),
    (
        "candidate.created",
        "candidate.work_history[0].current",
        "false",
        "candidate.work_history[0].current",
        "must be true or false",
    ),
    (
        "candidate.created",
        "candidate.education[0].start_date",
        "2018-07-01",
        "candidate.education[0].start_date",
        "start_date is after end_date",
    ),
    (
        "candidate.created",
        "candidate.education[0].institution",
        _MISSING,
        "candidate.education[0].institution",
        "field required",
    ),
    ("candidate.created", "candidate.work_history", "Acme", "candidate.work_history", "must be a list"),
    ("candidate.created", "candidate.skills", ["x"] * 201, "candidate.skills", "at most 200 skills"),
    ("candidate.created", "candidate.skills", [1], "candidate.skills[0]", "must be a string"),
    (
        "candidate.created",
        "candidate.work_history",
        [data("candidate.created")["candidate"]["work_history"][0]] * 101,
        "candidate.work_history",
        "at most 100 work history entries",
    ),
    (
        "candidate.created",
        "candidate.education",
        [data("candidate.created")["candidate"]["education"][0]] * 51,
        "candidate.education",
        "at most 50 education entries",
    ),
    (
        "candidate.created",
        "candidate.consents.marketing",
        "no",
        "candidate.consents.marketing",
        "must be true or false",
    ),
    (
        "candidate.created",
        "candidate.updated_at",
        "2026-11-28T09:59:00",
        "candidate.updated_at",
        "with an offset",
    ),
    ("candidate.created", "candidate.updated_at", 1795000000, "candidate.updated_at", "RFC 3339"),
    ("candidate.created", "candidate.updated_at", "2026-11-28", "candidate.updated_at", "RFC 3339"),
    # withdrawal
    ("candidate.withdrawn", "candidate.id", "cnd_1", "candidate.id", "must start with 'cand_'"),
    ("candidate.withdrawn", "candidate.withdrawn_at", _MISSING, "candidate.withdrawn_at", "field required"),
    # screening
    ("screening.completed", "screening.id", "asm_1", "screening.id", "must start with 'scr_'"),
    (
        "screening.completed",
        "screening.candidate_id",
        "scr_1",
        "screening.candidate_id",
        "must start with 'cand_'",
    ),
    ("screening.completed", "screening.score", 100.5, "screening.score", "must be between 0 and 100"),
    ("screening.completed", "screening.score", -0.1, "screening.score", "must be between 0 and 100"),
    ("screening.completed", "screening.score", "82.5", "screening.score", "must be a number"),
    ("screening.completed", "screening.score", True, "screening.score", "must be a number"),
    ("screening.completed", "screening.score", None, "screening.score", "must be a number"),
    ("screening.completed", "screening.recommendation", "hire", "screening.recommendation", "must be one of"),
    (
        "screening.completed",
        "screening.competencies[0].score",
        101,
        "screening.competencies[0].score",
        "must be between 0 and 100",
    ),
    ("screening.completed", "screening.completed_at", _MISSING, "screening.completed_at", "field required"),
    # assessments
    ("assessment.completed", "assessment.id", "scr_1", "assessment.id", "must start with 'asm_'"),
    (
        "assessment.completed",
        "assessment.score",
        _MISSING,
        "assessment.score",
        "required when status is completed",
    ),
    (
        "assessment.completed",
        "assessment.score",
        None,
        "assessment.score",
        "required when status is completed",
    ),
    (
        "assessment.completed",
        "assessment.score",
        100.5,
        "assessment.score",
        "must be between 0 and max_score",
    ),
    ("assessment.completed", "assessment.score", -1, "assessment.score", "must be between 0 and max_score"),
    ("assessment.completed", "assessment.max_score", 0, "assessment.max_score", "must be greater than 0"),
    (
        "assessment.completed",
        "assessment.max_score",
        50,
        "assessment.score",
        "must be between 0 and max_score",
    ),
    (
        "assessment.completed",
        "assessment.percentile",
        101,
        "assessment.percentile",
        "must be between 0 and 100",
    ),
    ("assessment.completed", "assessment.completed_at", "yesterday", "assessment.completed_at", "RFC 3339"),
    ("assessment.failed", "assessment.score", 10, "assessment.score", "must be absent when status is failed"),
    ("assessment.failed", "assessment.status", _MISSING, "assessment.status", "field required"),
    (
        "assessment.failed",
        "assessment.assessment_type",
        "",
        "assessment.assessment_type",
        "must not be empty",
    ),
    # documents
    ("document.uploaded", "document.id", "dc_1", "document.id", "must start with 'doc_'"),
    ("document.uploaded", "document.kind", "passport", "document.kind", "must be one of"),
    ("document.uploaded", "document.file_name", "", "document.file_name", "must not be empty"),
    (
        "document.uploaded",
        "document.file_name",
        "../etc/passwd",
        "document.file_name",
        "without path separators",
    ),
    (
        "document.uploaded",
        "document.file_name",
        "dir\\cv.pdf",
        "document.file_name",
        "without path separators",
    ),
    ("document.uploaded", "document.file_name", "cv\x00.pdf", "document.file_name", "control characters"),
    ("document.uploaded", "document.content_type", "pdf", "document.content_type", "must be a media type"),
    ("document.uploaded", "document.size_bytes", -1, "document.size_bytes", "must be 0 or more"),
    ("document.uploaded", "document.size_bytes", 1.5, "document.size_bytes", "must be an integer"),
    ("document.uploaded", "document.size_bytes", "10", "document.size_bytes", "must be an integer"),
    ("document.uploaded", "document.sha256", "A" * 64, "document.sha256", "64 lowercase hexadecimal"),
    ("document.uploaded", "document.sha256", "a" * 63, "document.sha256", "64 lowercase hexadecimal"),
    (
        "document.uploaded",
        "document.download_url",
        "https://evil.example/v1/documents/doc_1/content",
        "document.download_url",
        "must be a URL under the portal's base URL",
    ),
    # interviews
    ("interview.scheduled", "interview.id", "ireq_1", "interview.id", "must start with 'int_'"),
    ("interview.scheduled", "interview.request_id", "12345", "interview.request_id", "must be a UUID"),
    (
        "interview.scheduled",
        "interview.scheduled_start",
        _MISSING,
        "interview.scheduled_start",
        "required when status is scheduled",
    ),
    (
        "interview.scheduled",
        "interview.scheduled_end",
        None,
        "interview.scheduled_end",
        "required when status is scheduled",
    ),
    (
        "interview.scheduled",
        "interview.scheduled_end",
        "2026-12-01T09:59:59Z",
        "interview.scheduled_end",
        "must not be before scheduled_start",
    ),
    (
        "interview.scheduled",
        "interview.scheduled_start",
        "2026-12-01T10:00:00",
        "interview.scheduled_start",
        "with an offset",
    ),
    ("interview.declined", "interview.candidate_id", _MISSING, "interview.candidate_id", "field required"),
    # offers
    ("offer.accepted", "offer.id", "offer_1", "offer.id", "must start with 'off_'"),
    ("offer.accepted", "offer.offer_id", "off_1", "offer.offer_id", "must be a UUID"),
    ("offer.accepted", "offer.responded_at", _MISSING, "offer.responded_at", "field required"),
    ("offer.accepted", "offer.start_date", "04/01/2027", "offer.start_date", "must be a date as YYYY-MM-DD"),
]


@pytest.mark.parametrize(
    ("event_type", "path", "value", "field", "message"),
    RULES,
    ids=[f"{rule[0]}:{rule[3]}:{rule[4][:30]}" for rule in RULES],
)
def test_each_broken_rule_is_a_422_naming_exactly_its_field(event_type, path, value, field, message):
    error = rejected_data(event_type, path, value)
    assert error.status_code == 422
    assert [e.field for e in error.errors] == [field]
    assert message in error.errors[0].message
    assert error.event_id == "evt_1"
    assert error.event_type == EventType(event_type)


def test_several_broken_rules_are_all_reported():
    payload = with_change("candidate.created", "candidate.email", "nope")
    payload["candidate"]["phone"] = "12"
    payload["candidate"]["location"]["country"] = "XX"
    with pytest.raises(DataInvalid) as caught:
        parse(body(envelope("candidate.created", payload)))
    assert [e.field for e in caught.value.errors] == [
        "candidate.email",
        "candidate.phone",
        "candidate.location.country",
    ]


def test_error_as_dict_is_the_problem_json_entry():
    error = rejected_data("candidate.created", "candidate.email", "nope")
    assert [e.as_dict() for e in error.errors] == [
        {"field": "candidate.email", "message": "not a valid email address"}
    ]


# --- optional fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "candidate.ats_candidate_id",
        "candidate.phone",
        "candidate.location",
        "candidate.headline",
        "candidate.linkedin_url",
        "candidate.consents.marketing",
        "candidate.education[0].degree",
        "candidate.education[0].start_date",
        "candidate.work_history[0].end_date",
    ],
)
@pytest.mark.parametrize("absent", [_MISSING, None])
def test_optional_profile_fields_may_be_absent_or_null(path, absent):
    payload = with_change("candidate.created", path, absent)
    parse(body(envelope("candidate.created", payload)))


def test_max_score_defaults_to_100_when_absent_or_null():
    for value in (_MISSING, None):
        payload = with_change("assessment.completed", "assessment.max_score", value)
        _, event = parse(body(envelope("assessment.completed", payload)))
        assert isinstance(event, AssessmentData)
        assert event.assessment.max_score == Decimal(100)


def test_score_may_equal_max_score_and_zero():
    for score in (0, 20):
        payload = with_change("assessment.completed", "assessment.max_score", 20)
        payload["assessment"]["score"] = score
        parse(body(envelope("assessment.completed", payload)))


def test_declined_and_cancelled_interviews_need_no_times():
    for event_type in ("interview.declined", "interview.cancelled"):
        _, event = parse(body(envelope(event_type)))
        assert isinstance(event, InterviewAnswerData)
        assert event.interview.scheduled_start is None


def test_same_day_start_and_end_dates_are_in_order():
    payload = with_change("candidate.created", "candidate.work_history[0].end_date", "2019-03-01")
    parse(body(envelope("candidate.created", payload)))


# --- consent ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("candidate.consents.data_processing", False, "data_processing consent must be true"),
        ("candidate.consents.data_processing", _MISSING, "field required"),
        ("candidate.consents.data_processing", "true", "must be true or false"),
        ("candidate.consents.data_processing", 1, "must be true or false"),
        ("candidate.consents.data_processing", None, "must be true or false"),
        ("candidate.consents", _MISSING, "field required"),
        ("candidate.consents", None, "must not be null"),
    ],
)
def test_profile_without_consent_is_consent_missing(path, value, message):
    error = rejected_data("candidate.created", path, value)
    assert isinstance(error, ConsentMissing)
    assert error.consent_missing
    assert error.status_code == 422
    assert [e.field for e in error.errors] == [path]
    assert error.errors[0].message == message


def test_consent_missing_is_reported_even_beside_other_errors():
    payload = with_change("candidate.updated", "candidate.email", "nope")
    payload["candidate"]["consents"]["data_processing"] = False
    with pytest.raises(ConsentMissing) as caught:
        parse(body(envelope("candidate.updated", payload)))
    assert {e.field for e in caught.value.errors} == {"candidate.email", "candidate.consents.data_processing"}


def test_other_invalid_profiles_are_not_consent_missing():
    error = rejected_data("candidate.created", "candidate.email", "nope")
    assert not error.consent_missing
    assert type(error) is DataInvalid


# --- decimals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("82.5", Decimal("82.5")),
        ("82.50", Decimal("82.50")),
        ("0.30000000000000000004", Decimal("0.30000000000000000004")),
        ("39.99", Decimal("39.99")),
        ("70", Decimal(70)),
        ("7e1", Decimal("7e1")),
    ],
)
def test_scores_are_read_as_the_decimal_written(text, expected):
    raw = body(envelope("screening.completed")).replace(b'"score": 82.5', b'"score": ' + text.encode())
    _, event = parse(raw)
    assert isinstance(event, ScreeningCompletedData)
    score = event.screening.score
    assert isinstance(score, Decimal)
    assert score == expected
    assert str(score) == str(expected)


def test_nan_and_infinity_are_not_json():
    raw = body(envelope("screening.completed")).replace(b'"score": 82.5', b'"score": NaN')
    with pytest.raises(MalformedDelivery) as caught:
        parse(raw)
    assert caught.value.reason is MalformedReason.NOT_JSON


# --- unknown types and fields -------------------------------------------------------------------


def test_unknown_event_type_is_an_unknown_event_not_an_error():
    raw = body(envelope("note.added", {"note": {"text": "anything at all"}}))
    parsed, event = parse(raw)
    assert event == UnknownEvent("note.added")
    assert parsed.event_type is None
    assert parsed.type == "note.added"


def test_unknown_fields_are_ignored_at_every_level():
    obj = envelope("candidate.created")
    obj["trace"] = {"x": 1}
    obj["data"]["extra"] = [1, 2]
    obj["data"]["candidate"]["nickname"] = "Ada"
    obj["data"]["candidate"]["work_history"][0]["team"] = {"size": 3}
    _, event = parse(body(obj))
    assert isinstance(event, CandidateProfileData)
    assert not hasattr(event.candidate, "nickname")


def test_models_are_frozen():
    _, event = parse(body(envelope("screening.completed")))
    assert isinstance(event, ScreeningCompletedData)
    with pytest.raises(ValueError, match="frozen"):
        event.screening.score = Decimal(1)  # type: ignore[misc]


def test_times_keep_their_offset():
    _, event = parse(body(envelope("screening.completed")))
    assert isinstance(event, ScreeningCompletedData)
    assert event.screening.completed_at.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    "value", ["2026-11-28T10:00:00.123456789Z", "2026-11-28t10:00:00z", "2026-11-28 10:00:00+05:30"]
)
def test_rfc3339_variants_are_accepted(value):
    payload = with_change("screening.completed", "screening.completed_at", value)
    parse(body(envelope("screening.completed", payload)))


# --- 400s and their order -----------------------------------------------------------------------


def malformed(raw: bytes, **kwargs) -> MalformedDelivery:
    with pytest.raises(MalformedDelivery) as caught:
        parse(raw, **kwargs)
    assert caught.value.status_code == 400
    return caught.value


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"\xff\xfe{}", b"[1, 2]", b'"text"', b"[" * 100_000])
def test_body_that_is_not_a_json_object_is_not_json(raw):
    assert malformed(raw).reason is MalformedReason.NOT_JSON


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_content_type_not_json_is_a_400(content_type):
    assert malformed(body(envelope("screening.completed")), content_type=content_type).reason is (
        MalformedReason.CONTENT_TYPE
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/cloudevents+json",
    ],
)
def test_json_content_types_are_accepted(content_type):
    assert is_json_content_type(content_type)


@pytest.mark.parametrize(
    ("remove", "field", "message"),
    [
        ("id", "id", "field required"),
        ("type", "type", "field required"),
        ("data", "data", "field required"),
        ("created_at", "created_at", "field required"),
    ],
)
def test_missing_envelope_field_is_a_400_naming_it(remove, field, message):
    obj = envelope("screening.completed")
    del obj[remove]
    error = malformed(body(obj))
    assert error.reason is MalformedReason.ENVELOPE
    assert [(e.field, e.message) for e in error.errors] == [(field, message)]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("id", 12, "must be a string"),
        ("id", "abc_1", "must start with 'evt_'"),
        ("type", "", "must be 1 to 100 characters"),
        ("type", ["screening.completed"], "must be a string"),
        ("data", [], "must be an object"),
        ("data", "x", "must be an object"),
        ("data", None, "must be an object"),
        ("created_at", "2026-11-28T10:00:00", "must be an RFC 3339 date-time with an offset"),
    ],
)
def test_malformed_envelope_field_is_a_400(key, value, message):
    obj = envelope("screening.completed")
    obj[key] = value
    error = malformed(body(obj), webhook_id="evt_1" if key != "id" else str(value))
    assert error.reason is MalformedReason.ENVELOPE
    assert [e.field for e in error.errors] == [key]
    assert error.errors[0].message.startswith(message)


def test_id_differing_from_webhook_id_is_a_400():
    error = malformed(body(envelope("screening.completed")), webhook_id="evt_2")
    assert error.reason is MalformedReason.ID_MISMATCH
    assert error.errors[0].field == "id"


@pytest.mark.parametrize(
    ("event_type", "holder", "status"),
    [
        ("assessment.failed", "assessment", "completed"),
        ("assessment.completed", "assessment", "failed"),
        ("interview.scheduled", "interview", "declined"),
        ("interview.declined", "interview", "cancelled"),
        ("interview.cancelled", "interview", "scheduled"),
        ("offer.accepted", "offer", "declined"),
        ("offer.declined", "offer", "accepted"),
        ("offer.declined", "offer", "maybe"),
    ],
)
def test_status_disagreeing_with_type_is_a_400(event_type, holder, status):
    payload = with_change(event_type, f"{holder}.status", status)
    error = malformed(body(envelope(event_type, payload)))
    assert error.reason is MalformedReason.STATUS_MISMATCH
    assert [e.field for e in error.errors] == [f"{holder}.status"]
    assert error.event_type == event_type


def test_400_checks_run_in_the_contracts_order():
    broken = envelope("assessment.failed", with_change("assessment.failed", "assessment.status", "completed"))
    broken["data"]["assessment"]["candidate_id"] = "bad"  # a 422 that must not be reached
    # Status disagreeing, 422 underneath: the status answers.
    assert malformed(body(broken)).reason is MalformedReason.STATUS_MISMATCH
    # Plus a different id: the id mismatch answers first.
    assert malformed(body(broken), webhook_id="evt_other").reason is MalformedReason.ID_MISMATCH
    # Plus no created_at: the envelope answers first.
    del broken["created_at"]
    assert malformed(body(broken), webhook_id="evt_other").reason is MalformedReason.ENVELOPE
    # Plus a wrong Content-Type: it answers first.
    assert malformed(body(broken), content_type="text/plain").reason is MalformedReason.CONTENT_TYPE
    # And a body that is not JSON answers before everything.
    assert malformed(b"{" + body(broken), content_type="text/plain").reason is MalformedReason.NOT_JSON


def test_400_carries_event_id_and_type_when_readable():
    error = malformed(body(envelope("screening.completed")), webhook_id="evt_2")
    assert (error.event_id, error.event_type) == ("evt_1", "screening.completed")


def test_unknown_type_is_still_checked_for_envelope_and_id():
    obj = envelope("note.added", {"n": 1})
    assert malformed(body(obj), webhook_id="evt_9").reason is MalformedReason.ID_MISMATCH


def test_missing_status_is_a_422_not_a_400():
    error = rejected_data("interview.scheduled", "interview.status", _MISSING)
    assert [e.field for e in error.errors] == ["interview.status"]


# --- download_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE_URL}/v1/documents/doc_1/content",
        "https://API.portal.example/v1/documents/doc_1/content",
        "https://api.portal.example:443/v1/documents/doc_1/content",
        f"{BASE_URL}/v1/documents/doc_1/content?sig=abc%2Fdef",
        f"{BASE_URL}/v1/documents/doc%201/content",
    ],
)
def test_download_urls_under_the_base_are_accepted(url):
    assert is_under_base_url(url, BASE_URL)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.portal.example/v1/documents/doc_1/content",
        "https://api.portal.example.evil.example/v1/x",
        "https://evil.example/https://api.portal.example/v1/x",
        "https://api.portal.example@evil.example/v1/x",
        "https://user:pw@api.portal.example/v1/x",
        "https://api.portal.example:8443/v1/x",
        "https://api.portal.example:99999/v1/x",
        "https://api.portal.example:abc/v1/x",
        "https://api.portal.example/v1/../../admin",
        "https://api.portal.example/v1/./x",
        "https://api.portal.example/v1/%2e%2e/admin",
        "https://api.portal.example/v1/%2E%2E%2fadmin",
        "https://api.portal.example/v1%2fx",
        "https://api.portal.example/v1/%5c..%5cx",
        "https://api.portal.example/v1/%252e%252e/x",
        "https://api.portal.example//evil.example/x",
        "https://api.portal.example\\@evil.example/x",
        "https://api.portal.example/v1/x#frag",
        "https://api.portal.example/v1/x y",
        "https://api.portal.example/v1/ünïcode",
        "//api.portal.example/v1/x",
        "/v1/documents/doc_1/content",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://api.portal.example",
        "",
    ],
)
def test_download_url_tricks_are_refused(url):
    assert not is_under_base_url(url, BASE_URL)
    error = rejected_data("document.uploaded", "document.download_url", url)
    assert [(e.field, e.message) for e in error.errors] == [
        ("document.download_url", "must be a URL under the portal's base URL")
    ]


def test_download_url_respects_a_base_path_prefix():
    base = "https://portal.example/api"
    assert is_under_base_url("https://portal.example/api/v1/documents/doc_1/content", base)
    assert not is_under_base_url("https://portal.example/apix/v1/documents/doc_1/content", base)
    assert not is_under_base_url("https://portal.example/other", base)
    assert not is_under_base_url("https://portal.example/api/../other", base)


def test_download_url_with_explicit_base_port():
    base = "http://127.0.0.1:8081"
    assert is_under_base_url("http://127.0.0.1:8081/v1/documents/doc_1/content", base)
    assert not is_under_base_url("http://127.0.0.1/v1/documents/doc_1/content", base)
    assert not is_under_base_url("http://127.0.0.1:8082/v1/documents/doc_1/content", base)


def test_download_url_is_refused_when_no_base_url_is_known():
    obj = envelope("document.uploaded")
    with pytest.raises(DataInvalid) as caught:
        validate_envelope_object(json.loads(body(obj)), portal_base_url="not a url", webhook_id="evt_1")
    assert caught.value.errors[0].field == "document.download_url"


# --- bulk import lines -------------------------------------------------------------------------


def test_import_line_with_a_profile_is_accepted_without_webhook_id():
    parsed, event = parse_import_line(
        body(envelope("candidate.updated", event_id="evt_42")), portal_base_url=BASE_URL
    )
    assert parsed.id == "evt_42"
    assert isinstance(event, CandidateProfileData)


@pytest.mark.parametrize("event_type", ["screening.completed", "candidate.withdrawn", "note.added"])
def test_import_line_of_another_type_is_invalid(event_type):
    obj = envelope(event_type, data(event_type) if event_type != "note.added" else {})
    with pytest.raises(MalformedDelivery) as caught:
        parse_import_line(body(obj), portal_base_url=BASE_URL)
    assert caught.value.reason is MalformedReason.TYPE_NOT_IMPORTABLE
    assert caught.value.errors[0].field == "type"


def test_import_line_with_invalid_profile_is_a_422_with_paths():
    obj = envelope("candidate.created", with_change("candidate.created", "candidate.email", "x"))
    with pytest.raises(DataInvalid) as caught:
        parse_import_line(body(obj), portal_base_url=BASE_URL)
    assert caught.value.errors[0].field == "candidate.email"


def test_import_line_that_is_not_json_is_invalid():
    with pytest.raises(MalformedDelivery) as caught:
        parse_import_line(b"{oops", portal_base_url=BASE_URL)
    assert caught.value.reason is MalformedReason.NOT_JSON


def test_validate_envelope_object_reads_floats_through_their_repr():
    obj = json.loads(body(envelope("screening.completed")))
    _, event = validate_envelope_object(obj, portal_base_url=BASE_URL, webhook_id="evt_1")
    assert isinstance(event, ScreeningCompletedData)
    assert event.screening.score == Decimal("82.5")
    assert event.screening.competencies[0].score == Decimal("78.0")
