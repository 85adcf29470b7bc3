"""The bodies the ATS POSTs to the portal, as the contract's table gives them, and the rules
the portal checks. Unknown fields are ignored; values are parsed strictly (a number is not a
string, a time must carry an offset).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

CandidateId = Annotated[str, StringConstraints(pattern=r"^cand_[A-Za-z0-9]+$")]
_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class Slot(_Body):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _end_after_start(self) -> Slot:
        if self.end <= self.start:
            raise ValueError("end is not after start")
        return self


class InterviewRequestBody(_Body):
    request_id: UUID
    candidate_id: CandidateId
    duration_minutes: int = Field(ge=5, le=480)
    proposed_slots: list[Slot] = Field(min_length=1, max_length=20)
    timezone: str
    interviewers: list[Annotated[str, StringConstraints(min_length=1)]] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value


class Salary(_Body):
    amount: str
    currency: str

    @field_validator("amount")
    @classmethod
    def _decimal_amount(cls, value: str) -> str:
        if not _AMOUNT.match(value):
            raise ValueError("not a decimal amount with at most 2 decimals, as a string")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if pycountry.currencies.get(alpha_3=value) is None:
            raise ValueError("not an ISO 4217 currency code")
        return value


class OfferBody(_Body):
    offer_id: UUID
    candidate_id: CandidateId
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    salary: Salary
    start_date: date
    expires_at: AwareDatetime


class StatusBody(_Body):
    stage: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    message: Annotated[str, StringConstraints(max_length=2000)] | None = None
