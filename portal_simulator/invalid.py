"""Events that break exactly one rule of the contract, each labelled with what the ATS must say.

Every :class:`InvalidCase` starts from a valid event of one of its ``types`` and changes one
thing. Its label gives the rule's name, the field path inside ``data`` the ATS's problem+json
must name (dotted, list indexes as segments: ``candidate.work_history.0.start_date``; ``None``
for an envelope-level break), and the status the contract requires: 400 for a malformed
envelope or a ``status`` that disagrees with the ``type``, 422 for ``data`` that fails
validation. A start date after its end date is named by the ``start_date`` field.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal_simulator.events import Envelope

Mutation = Callable[[Envelope, random.Random], None]

_CANDIDATE = ("candidate.created", "candidate.updated")
_INTERVIEWS = ("interview.scheduled", "interview.declined", "interview.cancelled")
_OFFERS = ("offer.accepted", "offer.declined")
_ALL = (
    *_CANDIDATE,
    "screening.completed",
    "candidate.withdrawn",
    "assessment.completed",
    "assessment.failed",
    "document.uploaded",
    *_INTERVIEWS,
    *_OFFERS,
)


@dataclass(frozen=True, slots=True)
class InvalidCase:
    rule: str
    types: tuple[str, ...]
    field: str | None
    status: int
    message: str
    mutate: Mutation

    def label(self) -> dict[str, Any]:
        return {"rule": self.rule, "field": self.field, "status": self.status, "message": self.message}


def _inner(envelope: Envelope) -> dict[str, Any]:
    """The one object inside ``data`` (``candidate``, ``screening``, …)."""
    data = envelope["data"]
    (value,) = data.values()
    if not isinstance(value, dict):
        raise TypeError("event data does not hold one object")
    return value


def _set(key: str, value: Any) -> Mutation:
    def mutate(envelope: Envelope, _rng: random.Random) -> None:
        _inner(envelope)[key] = value

    return mutate


def _drop(key: str) -> Mutation:
    def mutate(envelope: Envelope, _rng: random.Random) -> None:
        _inner(envelope).pop(key, None)

    return mutate


def _reprefix(prefix: str) -> Mutation:
    def mutate(envelope: Envelope, _rng: random.Random) -> None:
        inner = _inner(envelope)
        inner["id"] = prefix + "_" + str(inner["id"]).split("_", 1)[1]

    return mutate


def _status(value: str, **extra: Any) -> Mutation:
    def mutate(envelope: Envelope, _rng: random.Random) -> None:
        _inner(envelope).update(status=value, **extra)

    return mutate


def _bad_country(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope)["location"] = {"city": "London", "country": "UK"}


def _job(start: str, end: str) -> dict[str, Any]:
    return {"company": "Contoso", "title": "Analyst", "start_date": start, "end_date": end, "current": False}


def _work_start_after_end(envelope: Envelope, _rng: random.Random) -> None:
    history = _inner(envelope)["work_history"]
    history[:1] = [_job("2024-05-01", "2023-01-31")]


def _education_start_after_end(envelope: Envelope, _rng: random.Random) -> None:
    education = _inner(envelope)["education"]
    education[:1] = [{"institution": "Open University", "start_date": "2021-09-01", "end_date": "2020-06-30"}]


def _no_consent(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope)["consents"] = {"data_processing": False}


def _many_jobs(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope)["work_history"] = [_job(f"{1900 + n}-01-01", f"{1900 + n}-12-31") for n in range(101)]


def _many_schools(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope)["education"] = [{"institution": f"School {n}"} for n in range(51)]


def _many_skills(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope)["skills"] = [f"skill-{n}" for n in range(201)]


def _no_data(envelope: Envelope, _rng: random.Random) -> None:
    del envelope["data"]


def _assessment_completed_says_failed(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope)["status"] = "failed"


def _assessment_failed_says_completed(envelope: Envelope, _rng: random.Random) -> None:
    _inner(envelope).update(status="completed", score=55.0)


CASES: tuple[InvalidCase, ...] = (
    InvalidCase(
        "email_invalid",
        _CANDIDATE,
        "candidate.email",
        422,
        "not a valid email address",
        _set("email", "ada.lovelace.example.com"),
    ),
    InvalidCase(
        "phone_not_e164",
        _CANDIDATE,
        "candidate.phone",
        422,
        "not an E.164 number",
        _set("phone", "020 7946 0958"),
    ),
    InvalidCase(
        "country_not_iso",
        _CANDIDATE,
        "candidate.location.country",
        422,
        "not an ISO 3166-1 alpha-2 code",
        _bad_country,
    ),
    InvalidCase(
        "work_start_after_end",
        _CANDIDATE,
        "candidate.work_history.0.start_date",
        422,
        "start_date is after end_date",
        _work_start_after_end,
    ),
    InvalidCase(
        "education_start_after_end",
        _CANDIDATE,
        "candidate.education.0.start_date",
        422,
        "start_date is after end_date",
        _education_start_after_end,
    ),
    InvalidCase(
        "consent_missing",
        _CANDIDATE,
        "candidate.consents.data_processing",
        422,
        "consent to data processing is required",
        _no_consent,
    ),
    InvalidCase(
        "too_many_work_history",
        _CANDIDATE,
        "candidate.work_history",
        422,
        "more than 100 entries",
        _many_jobs,
    ),
    InvalidCase(
        "too_many_education", _CANDIDATE, "candidate.education", 422, "more than 50 entries", _many_schools
    ),
    InvalidCase("too_many_skills", _CANDIDATE, "candidate.skills", 422, "more than 200 skills", _many_skills),
    InvalidCase(
        "missing_required_field",
        _CANDIDATE,
        "candidate.first_name",
        422,
        "field required",
        _drop("first_name"),
    ),
    InvalidCase("bad_id_prefix", _CANDIDATE, "candidate.id", 422, "not a cand_ id", _reprefix("usr")),
    InvalidCase(
        "time_without_offset",
        _CANDIDATE,
        "candidate.updated_at",
        422,
        "time has no offset",
        _set("updated_at", "2026-11-28T09:59:00"),
    ),
    InvalidCase(
        "score_out_of_range",
        ("screening.completed",),
        "screening.score",
        422,
        "score must be between 0 and 100",
        _set("score", 100.5),
    ),
    InvalidCase(
        "bad_recommendation",
        ("screening.completed",),
        "screening.recommendation",
        422,
        "not one of advance, review, reject",
        _set("recommendation", "hire"),
    ),
    InvalidCase(
        "missing_required_field",
        ("screening.completed",),
        "screening.score",
        422,
        "field required",
        _drop("score"),
    ),
    InvalidCase(
        "bad_id_prefix", ("screening.completed",), "screening.id", 422, "not a scr_ id", _reprefix("asm")
    ),
    InvalidCase(
        "time_without_offset",
        ("screening.completed",),
        "screening.completed_at",
        422,
        "time has no offset",
        _set("completed_at", "2026-11-28T10:00:00"),
    ),
    InvalidCase(
        "missing_required_field",
        ("candidate.withdrawn",),
        "candidate.withdrawn_at",
        422,
        "field required",
        _drop("withdrawn_at"),
    ),
    InvalidCase(
        "bad_id_prefix", ("candidate.withdrawn",), "candidate.id", 422, "not a cand_ id", _reprefix("can")
    ),
    InvalidCase(
        "completed_without_score",
        ("assessment.completed",),
        "assessment.score",
        422,
        "a completed assessment has a score",
        _drop("score"),
    ),
    InvalidCase(
        "status_disagrees_with_type",
        ("assessment.completed",),
        "assessment.status",
        400,
        "status disagrees with the event type",
        _assessment_completed_says_failed,
    ),
    InvalidCase(
        "status_disagrees_with_type",
        ("assessment.failed",),
        "assessment.status",
        400,
        "status disagrees with the event type",
        _assessment_failed_says_completed,
    ),
    InvalidCase(
        "bad_id_prefix",
        ("assessment.completed", "assessment.failed"),
        "assessment.id",
        422,
        "not an asm_ id",
        _reprefix("scr"),
    ),
    InvalidCase(
        "download_url_outside_portal",
        ("document.uploaded",),
        "document.download_url",
        422,
        "download_url is outside the portal's base URL",
        _set("download_url", "https://files.attacker.example/v1/documents/doc_x/content"),
    ),
    InvalidCase(
        "bad_document_kind",
        ("document.uploaded",),
        "document.kind",
        422,
        "not one of resume, cover_letter, id_document, certificate, other",
        _set("kind", "selfie"),
    ),
    InvalidCase(
        "bad_id_prefix", ("document.uploaded",), "document.id", 422, "not a doc_ id", _reprefix("file")
    ),
    InvalidCase(
        "status_disagrees_with_type",
        ("interview.scheduled",),
        "interview.status",
        400,
        "status disagrees with the event type",
        _status("declined"),
    ),
    InvalidCase(
        "status_disagrees_with_type",
        ("interview.declined", "interview.cancelled"),
        "interview.status",
        400,
        "status disagrees with the event type",
        _status("scheduled"),
    ),
    InvalidCase(
        "request_id_not_uuid",
        _INTERVIEWS,
        "interview.request_id",
        422,
        "not a UUID",
        _set("request_id", "ireq_12345"),
    ),
    InvalidCase("bad_id_prefix", _INTERVIEWS, "interview.id", 422, "not an int_ id", _reprefix("ireq")),
    InvalidCase(
        "status_disagrees_with_type",
        ("offer.accepted",),
        "offer.status",
        400,
        "status disagrees with the event type",
        _status("declined"),
    ),
    InvalidCase(
        "status_disagrees_with_type",
        ("offer.declined",),
        "offer.status",
        400,
        "status disagrees with the event type",
        _status("accepted"),
    ),
    InvalidCase(
        "offer_id_not_uuid", _OFFERS, "offer.offer_id", 422, "not a UUID", _set("offer_id", "OFFER-42")
    ),
    InvalidCase(
        "missing_required_field", _OFFERS, "offer.responded_at", 422, "field required", _drop("responded_at")
    ),
    InvalidCase("bad_id_prefix", _OFFERS, "offer.id", 422, "not an off_ id", _reprefix("ofr")),
    InvalidCase("missing_data", _ALL, None, 400, "the envelope has no data", _no_data),
)


def cases_for(event_type: str, rule: str | None = None) -> tuple[InvalidCase, ...]:
    """The cases that apply to ``event_type`` (only ``rule`` when given)."""
    return tuple(c for c in CASES if event_type in c.types and (rule is None or c.rule == rule))
