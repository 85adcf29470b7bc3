"""ATS commands (DESIGN.md, "ATS commands on ``ats-outbound``"), read from a queue message.

    {"command_id": "uuid", "type": "interview.request", "candidate_id": "<ATS uuid>", "data": {...}}

:func:`read_command` sorts a message into one of three values, decided before anything is
written:

* :class:`Command`: well formed; the dispatcher still checks what only the database knows (the
  candidate exists, the interview or offer is not another candidate's);
* :class:`Invalid`: has a usable ``command_id`` but can never be valid as sent (unknown type,
  missing or malformed fields, slots that end before they start, an unknown stage). It becomes
  a ``sync_queue`` row ``failed`` with the reason, never retried;
* :class:`Unusable`: no usable ``command_id`` (or no JSON object at all), so it cannot be a
  ``sync_queue`` row (UNIQUE ``command_id`` is what makes a command apply once): parked with an
  alert.

Reasons name fields and rules, never values. The body the portal receives is built here from
the command's own values (dates and times forwarded as the ATS wrote them), so every attempt of
one command sends the same body under the same ``Idempotency-Key``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from shared.contract.fields import AtsUuid, CalendarDate, NonEmptyStr, RFC3339DateTime
from shared.rules import Stage


class CommandType(StrEnum):
    """``sync_queue.operation_type``: the three commands the ATS sends."""

    INTERVIEW_REQUEST = "interview.request"
    OFFER_SEND = "offer.send"
    CANDIDATE_STATUS = "candidate.status"


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("command", message)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error("must be an integer")
    if value <= 0:
        raise _error("must be more than 0")
    return value


def _time_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise _error("must be a string")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _error("not an IANA time zone") from None
    return value


def _amount(value: Any) -> str:
    if not isinstance(value, str) or not value or not all(part.isdigit() for part in value.split(".", 1)):
        raise _error("must be a decimal amount as a string, e.g. '85000.00'")
    if "." in value and not 1 <= len(value.split(".", 1)[1]) <= 2:
        raise _error("at most 2 decimals")
    return value


def _currency(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isupper():
        raise _error("must be an ISO 4217 code, e.g. 'GBP'")
    return value


def _stage(value: Any) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        raise _error(f"must be one of {', '.join(s.value for s in Stage)}") from None


PositiveInt = Annotated[int, PlainValidator(_positive_int)]
TimeZone = Annotated[str, PlainValidator(_time_zone)]


class _Data(BaseModel):
    # Fields the ATS adds that we do not know are ignored, and not forwarded.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Slot(_Data):
    start: RFC3339DateTime
    end: RFC3339DateTime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Slot:
        if self.end <= self.start:
            raise _error("ends before it starts")
        return self


class InterviewRequestData(_Data):
    request_id: AtsUuid
    duration_minutes: PositiveInt
    proposed_slots: list[Slot] = Field(min_length=1)
    timezone: TimeZone
    interviewers: list[NonEmptyStr] | None = None


class Salary(_Data):
    amount: Annotated[str, PlainValidator(_amount)]
    currency: Annotated[str, PlainValidator(_currency)]


class OfferData(_Data):
    offer_id: AtsUuid
    title: NonEmptyStr
    salary: Salary
    start_date: CalendarDate
    expires_at: RFC3339DateTime


class StatusData(_Data):
    stage: Annotated[Stage, PlainValidator(_stage)]
    message: NonEmptyStr | None = None


@dataclass(frozen=True, slots=True)
class CommandShape:
    """What differs between command types, as data: the model of ``data``, the field holding
    the entity's id (the interview request or offer; a status change is about the candidate),
    and the ``data`` fields forwarded to the portal, in the contract's order."""

    model: type[_Data]
    entity_field: str | None
    forwarded: tuple[str, ...]


SHAPES: Final[Mapping[CommandType, CommandShape]] = {
    CommandType.INTERVIEW_REQUEST: CommandShape(
        InterviewRequestData,
        "request_id",
        ("request_id", "duration_minutes", "proposed_slots", "timezone", "interviewers"),
    ),
    CommandType.OFFER_SEND: CommandShape(
        OfferData, "offer_id", ("offer_id", "title", "salary", "start_date", "expires_at")
    ),
    CommandType.CANDIDATE_STATUS: CommandShape(StatusData, None, ("stage", "message")),
}


@dataclass(frozen=True, slots=True)
class Command:
    """A well-formed command. ``entity_id`` is the interview request or offer id (None for a
    status change); ``fields`` are the ``data`` values forwarded to the portal."""

    command_id: UUID
    type: CommandType
    candidate_id: UUID
    entity_id: UUID | None
    fields: Mapping[str, Any]
    stage: Stage | None
    document: Mapping[str, Any]

    @property
    def entity_key(self) -> str:
        """``sync_queue.entity_id``: the interview request or offer, or the candidate."""
        return str(self.entity_id if self.entity_id is not None else self.candidate_id)

    def portal_body(self, portal_candidate_id: str) -> dict[str, Any]:
        """The JSON the portal receives (a status change names the candidate in its path)."""
        body = dict(self.fields)
        if self.type is not CommandType.CANDIDATE_STATUS:
            body["candidate_id"] = portal_candidate_id
        return body


@dataclass(frozen=True, slots=True)
class Invalid:
    """A command that can never be valid as sent; what is known of it is kept for its row."""

    command_id: UUID
    operation_type: str
    candidate_id: UUID | None
    entity_id: UUID | None
    entity_key: str
    reason: str
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Unusable:
    """No usable ``command_id``: parked, since it cannot be a ``sync_queue`` row."""

    reason: str
    document: Any


def _unstorable(value: Any) -> bool:
    """Whether a JSON value holds a string PostgreSQL's jsonb refuses (NUL, lone surrogates)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _command_type(value: Any) -> CommandType | None:
    if not isinstance(value, str):
        return None
    try:
        return CommandType(value)
    except ValueError:
        return None


def _as_uuid(value: Any) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _reason(error: ValidationError, prefix: str) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join([prefix, *(str(p) for p in item["loc"])])
        message = "required" if item["type"] == "missing" else str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def read_command(body: bytes) -> Command | Invalid | Unusable:
    """Sort one ``ats-outbound`` message body; see the module docstring."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Unusable("the message body is not JSON", None)
    if not isinstance(document, dict):
        return Unusable("the message body is not a JSON object", document)
    command_id = _as_uuid(document.get("command_id"))
    if command_id is None:
        missing = "command_id" not in document
        return Unusable("no command_id" if missing else "command_id is not a UUID", document)
    kind = document.get("type")
    command_type = _command_type(kind)
    candidate_id = _as_uuid(document.get("candidate_id"))
    data = document.get("data")
    shape = SHAPES[command_type] if command_type is not None else None
    entity_field = shape.entity_field if shape is not None else None
    entity_id = _as_uuid(data.get(entity_field)) if entity_field and isinstance(data, dict) else None

    def invalid(reason: str) -> Invalid:
        stored = document if not _unstorable(document) else {"command_id": str(command_id)}
        return Invalid(
            command_id=command_id,
            operation_type=kind if isinstance(kind, str) and not _unstorable(kind) else "unknown",
            candidate_id=candidate_id,
            entity_id=entity_id,
            entity_key=str(entity_id or candidate_id or command_id),
            reason=reason,
            document=stored,
        )

    if _unstorable(document):
        return invalid("a string holds \\u0000 or a lone surrogate, which cannot be stored")
    if command_type is None or shape is None:
        return invalid(f"type: must be one of {', '.join(t.value for t in CommandType)}")
    if candidate_id is None:
        return invalid("candidate_id: " + ("required" if "candidate_id" not in document else "not a UUID"))
    if not isinstance(data, dict):
        return invalid("data: " + ("required" if "data" not in document else "must be an object"))
    try:
        parsed = shape.model.model_validate(data)
    except ValidationError as error:
        return invalid(_reason(error, "data"))
    return Command(
        command_id=command_id,
        type=command_type,
        candidate_id=candidate_id,
        entity_id=entity_id,
        fields={name: data[name] for name in shape.forwarded if data.get(name) is not None},
        stage=parsed.stage if isinstance(parsed, StatusData) else None,
        document=document,
    )
