"""An independent reading of the contract's event rules, written for the simulator's tests.

``violations(envelope, portal_base_url)`` returns every broken rule as ``(field, status)``:
``field`` is the path inside ``data`` (dotted, list indexes as segments) or None for the
envelope; status 400 for a malformed envelope or a ``status`` that disagrees with the type
(the first such failure answers alone), otherwise 422 for each field that fails validation.
It shares no code with the simulator.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

Violation = tuple[str | None, int]

STATUS_OF_TYPE = {
    "assessment.completed": ("assessment", "completed"),
    "assessment.failed": ("assessment", "failed"),
    "interview.scheduled": ("interview", "scheduled"),
    "interview.declined": ("interview", "declined"),
    "interview.cancelled": ("interview", "cancelled"),
    "offer.accepted": ("offer", "accepted"),
    "offer.declined": ("offer", "declined"),
}
KNOWN_TYPES = {
    "candidate.created",
    "candidate.updated",
    "screening.completed",
    "candidate.withdrawn",
    "document.uploaded",
    *STATUS_OF_TYPE,
}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")


class _Check:
    def __init__(self) -> None:
        self.errors: list[Violation] = []

    def fail(self, path: str) -> None:
        self.errors.append((path, 422))

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path)
            return {}
        return value

    def text(self, parent: dict[str, Any], key: str, path: str, *, optional: bool = False) -> str | None:
        value = parent.get(key)
        if value is None:
            if not optional:
                self.fail(f"{path}.{key}")
            return None
        if not isinstance(value, str) or not value:
            self.fail(f"{path}.{key}")
            return None
        return value

    def prefixed(self, parent: dict[str, Any], key: str, path: str, prefix: str) -> None:
        value = self.text(parent, key, path)
        if value is not None and not re.fullmatch(prefix + r"_[A-Za-z0-9]+", value):
            self.fail(f"{path}.{key}")

    def uuid(self, parent: dict[str, Any], key: str, path: str) -> None:
        value = self.text(parent, key, path)
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                self.fail(f"{path}.{key}")

    def time(self, parent: dict[str, Any], key: str, path: str, *, optional: bool = False) -> datetime | None:
        value = self.text(parent, key, path, optional=optional)
        if value is None:
            return None
        if not RFC3339.match(value):
            self.fail(f"{path}.{key}")
            return None
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    def day(self, parent: dict[str, Any], key: str, path: str, *, optional: bool = False) -> date | None:
        value = self.text(parent, key, path, optional=optional)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{path}.{key}")
            return None

    def number(
        self,
        parent: dict[str, Any],
        key: str,
        path: str,
        *,
        optional: bool = False,
        low: float | None = None,
        high: float | None = None,
    ) -> Decimal | None:
        value = parent.get(key)
        if value is None:
            if not optional:
                self.fail(f"{path}.{key}")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{path}.{key}")
            return None
        number = Decimal(str(value))
        if (low is not None and number < Decimal(str(low))) or (
            high is not None and number > Decimal(str(high))
        ):
            self.fail(f"{path}.{key}")
        return number

    def listed(self, parent: dict[str, Any], key: str, path: str, limit: int) -> list[Any]:
        value = parent.get(key)
        if not isinstance(value, list):
            self.fail(f"{path}.{key}")
            return []
        if len(value) > limit:
            self.fail(f"{path}.{key}")
        return value

    def one_of(self, parent: dict[str, Any], key: str, path: str, allowed: set[str]) -> None:
        value = self.text(parent, key, path)
        if value is not None and value not in allowed:
            self.fail(f"{path}.{key}")

    def ordered(self, entry: dict[str, Any], path: str, *, optional_start: bool) -> None:
        start = self.day(entry, "start_date", path, optional=optional_start)
        end = self.day(entry, "end_date", path, optional=True)
        if start is not None and end is not None and start > end:
            self.fail(f"{path}.start_date")


def _candidate(c: _Check, value: Any) -> None:
    p = "candidate"
    cand = c.obj(value, p)
    c.prefixed(cand, "id", p, "cand")
    c.text(cand, "first_name", p)
    c.text(cand, "last_name", p)
    email = c.text(cand, "email", p)
    if email is not None:
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            c.fail(f"{p}.email")
    phone = c.text(cand, "phone", p, optional=True)
    if phone is not None and not (
        E164.match(phone) and phonenumbers.is_valid_number(phonenumbers.parse(phone))
    ):
        c.fail(f"{p}.phone")
    if cand.get("location") is not None:
        location = c.obj(cand["location"], f"{p}.location")
        c.text(location, "city", f"{p}.location")
        country = c.text(location, "country", f"{p}.location")
        if country is not None and (len(country) != 2 or pycountry.countries.get(alpha_2=country) is None):
            c.fail(f"{p}.location.country")
    c.text(cand, "requisition_id", p)
    for index, job in enumerate(c.listed(cand, "work_history", p, 100)):
        path = f"{p}.work_history.{index}"
        entry = c.obj(job, path)
        c.text(entry, "company", path)
        c.text(entry, "title", path)
        c.ordered(entry, path, optional_start=False)
        if not isinstance(entry.get("current"), bool):
            c.fail(f"{path}.current")
    for index, school in enumerate(c.listed(cand, "education", p, 50)):
        path = f"{p}.education.{index}"
        entry = c.obj(school, path)
        c.text(entry, "institution", path)
        c.ordered(entry, path, optional_start=True)
    skills = c.listed(cand, "skills", p, 200)
    if not all(isinstance(skill, str) for skill in skills):
        c.fail(f"{p}.skills")
    consents = c.obj(cand.get("consents"), f"{p}.consents")
    if consents.get("data_processing") is not True:
        c.fail(f"{p}.consents.data_processing")
    c.time(cand, "updated_at", p)


def _screening(c: _Check, value: Any) -> None:
    p = "screening"
    s = c.obj(value, p)
    c.prefixed(s, "id", p, "scr")
    c.prefixed(s, "candidate_id", p, "cand")
    c.text(s, "requisition_id", p)
    c.text(s, "model", p)
    c.number(s, "score", p, low=0, high=100)
    c.one_of(s, "recommendation", p, {"advance", "review", "reject"})
    for index, competency in enumerate(c.listed(s, "competencies", p, 1000)):
        entry = c.obj(competency, f"{p}.competencies.{index}")
        c.text(entry, "name", f"{p}.competencies.{index}")
        c.number(entry, "score", f"{p}.competencies.{index}", low=0, high=100)
    c.time(s, "completed_at", p)


def _withdrawn(c: _Check, value: Any) -> None:
    cand = c.obj(value, "candidate")
    c.prefixed(cand, "id", "candidate", "cand")
    c.time(cand, "withdrawn_at", "candidate")


def _assessment(c: _Check, value: Any) -> None:
    p = "assessment"
    a = c.obj(value, p)
    c.prefixed(a, "id", p, "asm")
    c.prefixed(a, "candidate_id", p, "cand")
    c.text(a, "assessment_type", p)
    completed = a.get("status") == "completed"
    c.number(a, "score", p, optional=not completed)
    c.number(a, "max_score", p, optional=True, low=0)
    c.number(a, "percentile", p, optional=True, low=0, high=100)
    c.time(a, "completed_at", p, optional=True)


def _document(c: _Check, value: Any, base_url: str) -> None:
    p = "document"
    d = c.obj(value, p)
    c.prefixed(d, "id", p, "doc")
    c.prefixed(d, "candidate_id", p, "cand")
    c.one_of(d, "kind", p, {"resume", "cover_letter", "id_document", "certificate", "other"})
    c.text(d, "file_name", p)
    c.text(d, "content_type", p)
    size = d.get("size_bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        c.fail(f"{p}.size_bytes")
    sha = c.text(d, "sha256", p)
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        c.fail(f"{p}.sha256")
    url = c.text(d, "download_url", p)
    if url is not None and not url.startswith(base_url.rstrip("/") + "/"):
        c.fail(f"{p}.download_url")
    c.time(d, "uploaded_at", p)


def _interview(c: _Check, value: Any) -> None:
    p = "interview"
    i = c.obj(value, p)
    c.prefixed(i, "id", p, "int")
    c.uuid(i, "request_id", p)
    c.prefixed(i, "candidate_id", p, "cand")
    start = c.time(i, "scheduled_start", p, optional=True)
    end = c.time(i, "scheduled_end", p, optional=True)
    if start is not None and end is not None and start > end:
        c.fail(f"{p}.scheduled_start")
    zone = c.text(i, "timezone", p, optional=True)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            c.fail(f"{p}.timezone")


def _offer(c: _Check, value: Any) -> None:
    p = "offer"
    o = c.obj(value, p)
    c.prefixed(o, "id", p, "off")
    c.uuid(o, "offer_id", p)
    c.prefixed(o, "candidate_id", p, "cand")
    c.time(o, "responded_at", p)
    c.day(o, "start_date", p, optional=True)


def violations(envelope: dict[str, Any], portal_base_url: str) -> list[Violation]:
    event_id, event_type, data = envelope.get("id"), envelope.get("type"), envelope.get("data")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not isinstance(data, dict):
        return [(None, 400)]
    if not re.fullmatch(r"evt_[A-Za-z0-9]+", event_id) or not RFC3339.match(str(envelope.get("created_at"))):
        return [(None, 400)]
    if event_type in STATUS_OF_TYPE:
        key, status = STATUS_OF_TYPE[event_type]
        inner = data.get(key)
        if isinstance(inner, dict) and inner.get("status") != status:
            return [(f"{key}.status", 400)]
    check = _Check()
    if event_type in ("candidate.created", "candidate.updated"):
        _candidate(check, data.get("candidate"))
    elif event_type == "screening.completed":
        _screening(check, data.get("screening"))
    elif event_type == "candidate.withdrawn":
        _withdrawn(check, data.get("candidate"))
    elif event_type.startswith("assessment."):
        _assessment(check, data.get("assessment"))
    elif event_type == "document.uploaded":
        _document(check, data.get("document"), portal_base_url)
    elif event_type.startswith("interview."):
        _interview(check, data.get("interview"))
    elif event_type.startswith("offer."):
        _offer(check, data.get("offer"))
    return check.errors
