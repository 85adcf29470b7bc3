"""Candidate profiles as ``candidate.created``/``candidate.updated`` carry them: complete,
varied and valid (syntactically valid email, E.164 phone drawn for the candidate's country,
ISO country, dated work history with start ≤ end, consent to data processing).
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from typing import Any

import phonenumbers

from portal_simulator import ids, vocab
from portal_simulator.clock import Clock
from portal_simulator.times import rfc3339_varied

Profile = dict[str, Any]


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` (accents dropped), for emails and URLs."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed.lower() if c.isascii() and c.isalnum())


def phone_for(country: str, rng: random.Random) -> str:
    """A valid E.164 mobile number of ``country``, varied around the library's example number."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        example = phonenumbers.example_number(country)
    if example is None:
        raise ValueError(f"no example phone number for {country}")
    national = str(example.national_number)
    for _ in range(20):
        tail = "".join(str(rng.randrange(10)) for _ in range(3))
        candidate = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{tail}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


class ProfileGenerator:
    """Makes new profiles and plausible updates of existing ones."""

    def __init__(self, rng: random.Random, id_factory: ids.IdFactory, clock: Clock) -> None:
        self._rng = rng
        self._ids = id_factory
        self._clock = clock

    def new(self, *, candidate_id: str | None = None, requisition_id: str | None = None) -> Profile:
        rng = self._rng
        first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
        city, region, country, _tz = rng.choice(vocab.LOCATIONS)
        profile: Profile = {
            "id": candidate_id or self._ids.new(ids.CANDIDATE),
            "first_name": first,
            "last_name": last,
            "email": f"{ascii_slug(first)}.{ascii_slug(last)}{rng.randrange(1, 1000)}@"
            + rng.choice(vocab.EMAIL_DOMAINS),
            "requisition_id": requisition_id or rng.choice(vocab.REQUISITIONS),
            "work_history": self._work_history(),
            "education": self._education(),
            "skills": rng.sample(vocab.SKILLS, rng.randint(1, 15)),
            "consents": {"data_processing": True},
            "updated_at": rfc3339_varied(self._clock() - timedelta(minutes=rng.randint(1, 600)), rng),
        }
        if rng.random() < 0.85:
            profile["phone"] = phone_for(country, rng)
        if rng.random() < 0.9:
            location: dict[str, Any] = {"city": city, "country": country}
            if region is not None:
                location["region"] = region
            profile["location"] = location
        if rng.random() < 0.8:
            profile["headline"] = rng.choice(vocab.HEADLINES)
        if rng.random() < 0.6:
            profile["linkedin_url"] = f"https://www.linkedin.com/in/{ascii_slug(first)}-{ascii_slug(last)}"
        if rng.random() < 0.7:
            profile["consents"]["marketing"] = rng.random() < 0.4
        return profile

    def updated(self, profile: Profile) -> Profile:
        """A copy of ``profile`` with a few fields changed and a newer ``updated_at``."""
        rng = self._rng
        new = {**profile, "skills": list(profile.get("skills", []))}
        extra = [s for s in vocab.SKILLS if s not in new["skills"]]
        if extra:
            new["skills"].append(rng.choice(extra))
        new["headline"] = rng.choice(vocab.HEADLINES)
        location = profile.get("location")
        if rng.random() < 0.5 and isinstance(location, dict):
            new["phone"] = phone_for(str(location["country"]), rng)
        new["updated_at"] = rfc3339_varied(self._clock(), rng)
        return new

    def _work_history(self) -> list[dict[str, Any]]:
        rng = self._rng
        entries: list[dict[str, Any]] = []
        cursor = date(2026, 11, 1) - timedelta(days=rng.randint(0, 200))
        for index in range(rng.randint(0, 5)):
            current = index == 0 and rng.random() < 0.5
            end = cursor
            start = end - timedelta(days=rng.randint(90, 1800))
            entry: dict[str, Any] = {
                "company": rng.choice(vocab.COMPANIES),
                "title": rng.choice(vocab.TITLES),
                "start_date": start.isoformat(),
                "current": current,
            }
            if not current:
                entry["end_date"] = end.isoformat()
            entries.append(entry)
            cursor = start - timedelta(days=rng.randint(0, 120))
        return entries

    def _education(self) -> list[dict[str, Any]]:
        rng = self._rng
        entries: list[dict[str, Any]] = []
        for _ in range(rng.randint(0, 2)):
            entry: dict[str, Any] = {"institution": rng.choice(vocab.INSTITUTIONS)}
            degree, field = rng.choice(vocab.DEGREES), rng.choice(vocab.FIELDS)
            if degree is not None:
                entry["degree"] = degree
            if field is not None:
                entry["field"] = field
            if rng.random() < 0.8:
                start_year = rng.randint(1995, 2022)
                entry["start_date"] = date(start_year, 9, 1).isoformat()
                entry["end_date"] = date(start_year + rng.randint(1, 4), 6, 30).isoformat()
            entries.append(entry)
        return entries
