"""Turning a delivery's bytes into an :class:`Envelope` and its validated event data.

The contract answers the first failing check: 413 and 401 belong to the receiver (body size,
:mod:`shared.contract.signature`); this module does the rest, in this order:

1. **400** :class:`MalformedDelivery`, reason by reason, first failure wins:
   ``not_json`` (not UTF-8 JSON, or not a JSON object; ``NaN``/``Infinity`` or nesting deeper
   than 32 levels anywhere, each named by its path from the body's root), ``content_type``
   (``Content-Type`` not ``application/json`` or ``application/*+json``), ``envelope``
   (``id``/``type``/``created_at``/``data`` missing or malformed; ``data`` must be an object;
   all such fields reported together), ``id_mismatch`` (``id`` differs from ``webhook-id``),
   ``type_not_importable`` (bulk import only: a line that is not ``candidate.created/updated``),
   ``unstorable`` (a value outside a known type's ``data`` that the pipeline cannot store: NUL,
   a lone surrogate, a number out of range, in an unknown field of the envelope or anywhere in
   an unknown type's ``data``), ``status_mismatch`` (``data.<object>.status`` disagrees with
   ``type``).
2. An unknown ``type`` is not an error: it yields an :class:`~shared.contract.events.UnknownEvent`.
3. **422** :class:`DataInvalid` (or :class:`ConsentMissing`): a known type whose ``data`` fails
   validation, or holds a value the pipeline cannot store (:mod:`shared.contract.storable`);
   every broken rule is one :class:`~shared.errors.FieldError` whose ``field`` is the path
   inside ``data`` (``candidate.work_history[0].start_date``).

So every string of an accepted body, keys and unknown fields included, is storable in
PostgreSQL, and every model this module returns is built only from such a body.

Speed: the body is parsed once, by the C ``json`` scanner with ``parse_float=Decimal`` (so a
score is the decimal the portal wrote, never a float), walked once for storability, the
envelope is checked in plain Python, and ``data`` goes through one pydantic model whose schema
was compiled at import. Only a body the scanner refuses is read a second time, leniently, to
name the field that made it fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, NoReturn

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.contract.events import (
    DATA_MODELS,
    IMPORTABLE_EVENT_TYPES,
    LIST_LIMITS,
    STATUS_BY_EVENT_TYPE,
    CandidateProfileData,
    EventType,
    KnownEventData,
    PortalEvent,
    UnknownEvent,
)
from shared.contract.fields import PORTAL_BASE_URL_CONTEXT_KEY, parse_rfc3339
from shared.contract.storable import (
    Problem,
    ProblemKind,
    Problems,
    clearly_storable,
    deep_container_path,
    escape_unstorable,
    find_problems,
    format_path,
)
from shared.errors import FieldError, PermanentError, ValidationFailed

__all__ = [
    "BATCH_ID_PREFIX",
    "EVENT_ID_PREFIX",
    "ConsentMissing",
    "DataInvalid",
    "Envelope",
    "MalformedDelivery",
    "MalformedReason",
    "decode_json_object",
    "field_errors",
    "is_json_content_type",
    "parse_event",
    "parse_import_line",
    "validate_envelope_object",
]

EVENT_ID_PREFIX: Final = "evt_"
BATCH_ID_PREFIX: Final = "bat_"
_ID_PATTERN: Final = re.compile(r"evt_[A-Za-z0-9_-]{1,100}")
_MAX_TYPE_LENGTH: Final = 100
# The path of the consent inside a profile event's data, and every path above it: an error on
# any of them means the payload cannot be shown to carry the consent.
_CONSENT_PATHS: Final = frozenset({"candidate", "candidate.consents", "candidate.consents.data_processing"})
_ENVELOPE_FIELDS: Final = frozenset({"id", "type", "created_at", "data"})


class MalformedReason(StrEnum):
    """Why a delivery is a 400 (the contract's list, plus the import-only type rule)."""

    NOT_JSON = "not_json"
    CONTENT_TYPE = "content_type"
    ENVELOPE = "envelope"
    ID_MISMATCH = "id_mismatch"
    TYPE_NOT_IMPORTABLE = "type_not_importable"
    STATUS_MISMATCH = "status_mismatch"
    UNSTORABLE = "unstorable"


class MalformedDelivery(PermanentError):
    """The delivery is malformed (HTTP 400): the portal must not retry it.

    ``errors`` names envelope fields (``id``, ``type``, ``created_at``, ``data``) or, for a
    status mismatch, the path inside ``data`` (``assessment.status``); it is empty when the
    body as a whole is wrong (not JSON, wrong Content-Type). ``event_id`` and ``event_type``
    are the envelope's values when they could be read as strings, for logs and
    ``rejected_deliveries``; they are identifiers, not personal data.
    """

    status_code: Final = 400
    #: PostgreSQL would refuse the body as ``jsonb`` (set when the storability pass ran).
    refused_by_jsonb: bool = False

    def __init__(
        self,
        reason: MalformedReason,
        detail: str,
        errors: Sequence[FieldError] = (),
        *,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.event_id = event_id
        self.event_type = event_type


class DataInvalid(ValidationFailed):
    """A known event type whose ``data`` broke the contract's rules (HTTP 422).

    ``errors`` holds one :class:`FieldError` per broken rule, named by its path inside
    ``data``. ``consent_missing`` tells the receiver whether it may store the payload.
    """

    status_code: Final = 422
    consent_missing: bool = False
    #: PostgreSQL would refuse the body as ``jsonb`` (a NUL, a lone surrogate, ...): a
    #: rejection keeps it as text.
    refused_by_jsonb: bool = False

    def __init__(
        self, message: str, errors: Sequence[FieldError], *, event_id: str, event_type: EventType
    ) -> None:
        super().__init__(message, errors)
        self.event_id = event_id
        self.event_type = event_type


class ConsentMissing(DataInvalid):
    """A profile whose ``consents.data_processing`` is not ``true`` (absent, false, or not
    readable): still a 422, but the payload must not be stored anywhere, not even in
    ``rejected_deliveries``."""

    consent_missing = True


@dataclass(frozen=True, slots=True)
class Envelope:
    """The envelope of one delivery: ``{id, type, created_at, data}`` without the data.

    ``type`` is the text as sent; ``event_type`` is the same as an :class:`EventType` when
    the type is known, else ``None``. ``created_at`` orders two answers about one interview.
    """

    id: str
    type: str
    event_type: EventType | None
    created_at: datetime


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; the stdlib parser would otherwise accept them.
    raise ValueError("not JSON")


def _int_or_decimal(text: str) -> int | Decimal:
    # Python refuses integers of more than 4300 digits; as a Decimal the storability pass
    # names the field (far beyond a double's range) instead of the whole body failing.
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


# One decoder for every call: json.loads() with keyword arguments builds a new one each time.
_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
# For a body _DECODER refused: reads NaN/Infinity as Decimal and over-long integers too, so
# that find_problems() can name where they are. Never used for a body that is accepted.
_LENIENT_DECODER: Final = json.JSONDecoder(
    parse_float=Decimal, parse_int=_int_or_decimal, parse_constant=Decimal
)
_KNOWN_TYPES: Final[Mapping[str, EventType]] = {member.value: member for member in EventType}
_NOT_JSON: Final = "body is not valid JSON"


def decode_json_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body`` (UTF-8), numbers with a fraction or exponent as ``Decimal``.

    Raises :class:`MalformedDelivery` (``not_json``) for invalid UTF-8, invalid JSON, a
    top-level value that is not an object, ``NaN``/``Infinity`` (naming each one's path), and
    nesting too deep for the decoder (naming the first container beyond
    :data:`~shared.contract.storable.MAX_DEPTH`). An integer over Python's 4300-digit limit
    comes back as a ``Decimal``, for :func:`validate_envelope_object` to refuse by its path.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedDelivery(MalformedReason.NOT_JSON, _NOT_JSON) from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise _too_deep_for_the_decoder(text) from None
    except ValueError:
        value = _decode_leniently(text)
    if not isinstance(value, dict):
        raise MalformedDelivery(MalformedReason.NOT_JSON, "body must be a JSON object")
    return value


def _decode_leniently(text: str) -> Any:
    """A body the fast decoder refused, read again only to say where: a ``NaN`` is still
    refused here (never returned), an over-long integer is returned as a ``Decimal``."""
    try:
        value = _LENIENT_DECODER.decode(text)
    except RecursionError:
        raise _too_deep_for_the_decoder(text) from None
    except ValueError:
        raise MalformedDelivery(MalformedReason.NOT_JSON, _NOT_JSON) from None
    if isinstance(value, dict):
        _readable(value)
    return value


def _too_deep_for_the_decoder(text: str) -> MalformedDelivery:
    path = deep_container_path(text)
    errors = () if path is None else (FieldError(format_path(path), ProblemKind.TOO_DEEP.value),)
    return MalformedDelivery(MalformedReason.NOT_JSON, _NOT_JSON, errors)


def is_json_content_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header names JSON: ``application/json`` or ``application/*+json``.

    Parameters are allowed; a ``charset``, if given, must be UTF-8 (RFC 8259 JSON is UTF-8).
    """
    if not content_type:
        return False
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return False
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in {"utf-8", "utf8"}:
            return False
    return True


def _string_or_none(value: object) -> str | None:
    """An envelope value worth keeping beside a rejection (logs, ``rejected_deliveries``):
    a string of at most 200 characters, with NUL and lone surrogates written as escapes so
    that storing it can never fail."""
    return escape_unstorable(value) if isinstance(value, str) and len(value) <= 200 else None


def _check_envelope(obj: Mapping[str, Any], unstorable: Sequence[Problem]) -> tuple[Envelope, dict[str, Any]]:
    """The envelope's own fields, all checked; every failure goes into one ``envelope`` 400.

    ``unstorable``: the storability pass's findings; one that is an envelope field itself (a
    ``type`` with NUL, which as an unknown type would otherwise be kept) is reported here
    unless the field already broke another rule.
    """
    errors: list[FieldError] = []
    event_id, event_type = obj.get("id"), obj.get("type")
    created_at, data = obj.get("created_at"), obj.get("data")

    if event_id is None:
        errors.append(FieldError("id", "field required" if "id" not in obj else "must not be null"))
    elif not isinstance(event_id, str):
        errors.append(FieldError("id", "must be a string"))
    elif not event_id.startswith(EVENT_ID_PREFIX):
        errors.append(FieldError("id", f"must start with '{EVENT_ID_PREFIX}'"))
    elif _ID_PATTERN.fullmatch(event_id) is None:
        errors.append(FieldError("id", "must be 'evt_' followed by 1 to 100 letters, digits, '_' or '-'"))

    if event_type is None:
        errors.append(FieldError("type", "field required" if "type" not in obj else "must not be null"))
    elif not isinstance(event_type, str):
        errors.append(FieldError("type", "must be a string"))
    elif not event_type.strip() or len(event_type) > _MAX_TYPE_LENGTH:
        errors.append(FieldError("type", f"must be 1 to {_MAX_TYPE_LENGTH} characters"))

    parsed_created_at: datetime | None = None
    if created_at is None:
        missing = "created_at" not in obj
        errors.append(FieldError("created_at", "field required" if missing else "must not be null"))
    else:
        try:
            parsed_created_at = parse_rfc3339(created_at)
        except ValueError as exc:  # PydanticCustomError is a ValueError
            errors.append(FieldError("created_at", str(exc)))

    if data is None:
        errors.append(FieldError("data", "field required" if "data" not in obj else "must be an object"))
    elif not isinstance(data, dict):
        errors.append(FieldError("data", "must be an object"))

    named = {error.field for error in errors}
    for problem in unstorable:
        field = problem.path[0] if len(problem.path) == 1 else None
        if field in _ENVELOPE_FIELDS and field not in named:
            errors.append(FieldError(str(field), problem.message))
    if errors:
        raise MalformedDelivery(
            MalformedReason.ENVELOPE,
            "the envelope is malformed",
            errors,
            event_id=_string_or_none(event_id),
            event_type=_string_or_none(event_type),
        )
    # Narrowing for the type checker; the checks above already guarantee all four.
    assert isinstance(event_id, str)
    assert isinstance(event_type, str)
    assert parsed_created_at is not None
    assert isinstance(data, dict)
    envelope = Envelope(
        id=event_id, type=event_type, event_type=_KNOWN_TYPES.get(event_type), created_at=parsed_created_at
    )
    return envelope, data


# Messages for pydantic's own error types (those not raised by shared.contract.fields). None of
# them may include the input; anything unlisted falls back to a neutral message.
_MESSAGES: Final[Mapping[str, str]] = {
    "missing": "field required",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "decimal_type": "must be a number",
    "frozen_instance": "must not be changed",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "contract_rule":
        return error["msg"]  # our own fixed messages, written without the input
    if error.get("input", ...) is None and kind.endswith("_type"):
        return "must not be null"
    if kind in ("enum", "literal_error"):
        return f"must be one of {error.get('ctx', {}).get('expected', 'the allowed values')}"
    if kind == "too_long":
        name = next((part for part in reversed(error["loc"]) if isinstance(part, str)), "")
        limit, noun = LIST_LIMITS.get(name, (error.get("ctx", {}).get("max_length"), "entries"))
        return f"at most {limit} {noun}"
    return _MESSAGES.get(kind, "is not valid")


def field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    """One :class:`FieldError` per pydantic error, path inside ``data``, message without input."""
    return tuple(
        FieldError(format_path(error["loc"]), _message(error))
        for error in exc.errors(include_url=False, include_context=True, include_input=True)
    )


def _check_status(envelope: Envelope, data: Mapping[str, Any]) -> None:
    assert envelope.event_type is not None  # callers pass known types only
    expected = STATUS_BY_EVENT_TYPE.get(envelope.event_type)
    if expected is None:
        return
    holder, status = expected
    entity = data.get(holder)
    # Only a status that is there and says something else disagrees; an absent or null one is
    # a missing field (422), decided by validation.
    if isinstance(entity, dict) and entity.get("status") is not None and entity.get("status") != status:
        raise MalformedDelivery(
            MalformedReason.STATUS_MISMATCH,
            f"data.{holder}.status disagrees with the event type",
            [FieldError(f"{holder}.status", f"must be '{status}' for type {envelope.type}")],
            event_id=envelope.id,
            event_type=envelope.type,
        )


def _validate_data(
    envelope: Envelope, data: dict[str, Any], portal_base_url: str, unstorable: Sequence[FieldError]
) -> KnownEventData:
    assert envelope.event_type is not None  # callers pass known types only
    model = DATA_MODELS[envelope.event_type]
    try:
        validated = model.model_validate(data, context={PORTAL_BASE_URL_CONTEXT_KEY: portal_base_url})
    except ValidationError as exc:
        errors = _with_unstorable(field_errors(exc), unstorable)
    else:
        if not unstorable:
            return validated
        errors = _with_unstorable((), unstorable)
    # Raised outside the except block: the pydantic error (which holds input values) must not
    # ride along as __context__ into a logged traceback.
    consent = envelope.event_type in IMPORTABLE_EVENT_TYPES and any(e.field in _CONSENT_PATHS for e in errors)
    cls = ConsentMissing if consent else DataInvalid
    raise cls("event data failed validation", errors, event_id=envelope.id, event_type=envelope.event_type)


def _with_unstorable(
    errors: Sequence[FieldError], unstorable: Sequence[FieldError]
) -> tuple[FieldError, ...]:
    """The model's errors, then a storability error for each field not named yet: one error
    per field (a file name with NUL is already "not a plain file name")."""
    named = {error.field for error in errors}
    extra: list[FieldError] = []
    for error in unstorable:
        if error.field not in named:
            named.add(error.field)
            extra.append(error)
    return (*errors, *extra)


def validate_envelope_object(
    obj: Mapping[str, Any],
    *,
    portal_base_url: str,
    webhook_id: str | None = None,
    allowed_types: Collection[EventType] | None = None,
    raw: bytes | None = None,
) -> tuple[Envelope, PortalEvent]:
    """Check an already decoded envelope, in the contract's order after the JSON checks.

    ``raw``: the JSON text ``obj`` was decoded from, when the caller has it; the storability
    pass then skips the walk for a text that cannot hold anything it refuses
    (:func:`~shared.contract.storable.clearly_storable`, the common case).

    ``webhook_id``: when given, the envelope's ``id`` must equal it (a webhook); the bulk
    import passes ``None``, its ``webhook-id`` being the batch id. ``allowed_types``: when
    given, any other type (unknown ones included) is a 400 ``type_not_importable``. Numbers
    should be ``Decimal`` (``json.loads(..., parse_float=Decimal)``); a float is read through
    its shortest ``repr``, which is exact for what portals send but not in general.

    What it returns is built from a body in which every string, key and number is storable
    (:mod:`shared.contract.storable`): times are aware datetimes, scores ``Decimal``, ATS ids
    ``UUID``; nothing after this needs to read the raw JSON again except for unknown fields.
    """
    problems = _readable(obj, raw)
    return _validate(obj, problems, portal_base_url, webhook_id, allowed_types)


def _readable(obj: Mapping[str, Any], raw: bytes | None = None) -> Problems:
    """The storability pass; a body with NaN/Infinity or nesting too deep is not JSON (400)."""
    if raw is not None and clearly_storable(raw):
        return Problems()
    problems = find_problems(obj)
    if problems.unreadable:
        raise MalformedDelivery(
            MalformedReason.NOT_JSON,
            _NOT_JSON,
            [FieldError(format_path(problem.path), problem.message) for problem in problems.unreadable],
            event_id=_string_or_none(obj.get("id")),
            event_type=_string_or_none(obj.get("type")),
        )
    return problems


def _validate(
    obj: Mapping[str, Any],
    problems: Problems,
    portal_base_url: str,
    webhook_id: str | None,
    allowed_types: Collection[EventType] | None,
) -> tuple[Envelope, PortalEvent]:
    try:
        return _validate_checked(obj, problems, portal_base_url, webhook_id, allowed_types)
    except (MalformedDelivery, DataInvalid) as refused:
        refused.refused_by_jsonb = problems.refused_by_jsonb
        raise


def _validate_checked(
    obj: Mapping[str, Any],
    problems: Problems,
    portal_base_url: str,
    webhook_id: str | None,
    allowed_types: Collection[EventType] | None,
) -> tuple[Envelope, PortalEvent]:
    envelope, data = _check_envelope(obj, problems.unstorable)
    if webhook_id is not None and envelope.id != webhook_id:
        raise MalformedDelivery(
            MalformedReason.ID_MISMATCH,
            "the body's id differs from the webhook-id header",
            [FieldError("id", "must equal the webhook-id header")],
            event_id=envelope.id,
            event_type=envelope.type,
        )
    if allowed_types is not None and envelope.event_type not in allowed_types:
        allowed = " or ".join(sorted(allowed_types))
        raise MalformedDelivery(
            MalformedReason.TYPE_NOT_IMPORTABLE,
            "this event type cannot be imported",
            [FieldError("type", f"must be {allowed}")],
            event_id=envelope.id,
            event_type=envelope.type,
        )
    in_data, elsewhere = _split_unstorable(problems.unstorable, known_type=envelope.event_type is not None)
    if elsewhere:
        raise MalformedDelivery(
            MalformedReason.UNSTORABLE,
            "the body holds values that cannot be stored",
            [FieldError(format_path(problem.path), problem.message) for problem in elsewhere],
            event_id=envelope.id,
            event_type=envelope.type,
        )
    if envelope.event_type is None:
        return envelope, UnknownEvent(envelope.type)
    _check_status(envelope, data)
    return envelope, _validate_data(envelope, data, portal_base_url, in_data)


def _split_unstorable(
    problems: Sequence[Problem], *, known_type: bool
) -> tuple[list[FieldError], list[Problem]]:
    """A known type's ``data`` problems as 422 field errors (paths inside ``data``), and the
    rest: unknown envelope fields and an unknown type's ``data`` (a 400, paths from the root).
    An envelope field's own problem was already reported by :func:`_check_envelope`."""
    in_data: list[FieldError] = []
    elsewhere: list[Problem] = []
    for problem in problems:
        path = problem.path
        if len(path) == 1 and path[0] in _ENVELOPE_FIELDS:
            continue
        if known_type and len(path) > 1 and path[0] == "data":
            in_data.append(FieldError(format_path(path[1:]), problem.message))
        else:
            elsewhere.append(problem)
    return in_data, elsewhere


def parse_event(
    body: bytes, *, content_type: str | None, webhook_id: str, portal_base_url: str
) -> tuple[Envelope, PortalEvent]:
    """Parse and validate one webhook delivery whose signature has already been verified.

    Returns the envelope and the validated data (or :class:`UnknownEvent`); raises
    :class:`MalformedDelivery` (400) or :class:`DataInvalid`/:class:`ConsentMissing` (422),
    in the order of this module's docstring.
    """
    obj = decode_json_object(body)
    problems = _readable(obj, body)
    if not is_json_content_type(content_type):
        wrong_type = MalformedDelivery(
            MalformedReason.CONTENT_TYPE,
            "Content-Type must be application/json",
            event_id=_string_or_none(obj.get("id")),
            event_type=_string_or_none(obj.get("type")),
        )
        wrong_type.refused_by_jsonb = problems.refused_by_jsonb
        raise wrong_type
    return _validate(obj, problems, portal_base_url, webhook_id, None)


def parse_import_line(line: bytes, *, portal_base_url: str) -> tuple[Envelope, CandidateProfileData]:
    """Parse one NDJSON line of a bulk import: a full ``candidate.created/updated`` envelope.

    Same checks and errors as a webhook, except that there is no Content-Type per line and
    no ``webhook-id`` to compare with (the request's is the batch id), and any other type is a
    400 ``type_not_importable``.
    """
    envelope, event = validate_envelope_object(
        decode_json_object(line),
        portal_base_url=portal_base_url,
        allowed_types=IMPORTABLE_EVENT_TYPES,
        raw=line,
    )
    assert isinstance(event, CandidateProfileData)  # allowed_types guarantees it
    return envelope, event
