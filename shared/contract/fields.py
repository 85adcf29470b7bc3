"""Field types of the portal's event data, each one rule of the contract with its own message.

Every type here is an ``Annotated`` pydantic type whose validator raises a
:class:`~pydantic_core.PydanticCustomError` with a fixed, precise message. Messages never
include the input: event data is personal data, and errors travel to logs, to the
``rejected_deliveries`` table and back to the portal.

The event data is validated in pydantic's Python mode from the object that ``json.loads``
built with ``parse_float=Decimal`` (one parse of the body, numbers kept exactly as written), so
the validators here check the JSON shapes themselves: a timestamp must be a string (not a Unix
number that lax parsing would accept), a score a number (not a string), a boolean a boolean.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Final, NamedTuple
from urllib.parse import urlsplit
from uuid import UUID

import phonenumbers
import pycountry
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

__all__ = [
    "PORTAL_BASE_URL_CONTEXT_KEY",
    "AssessmentId",
    "AtsUuid",
    "CalendarDate",
    "CandidateId",
    "CountryCode",
    "DocumentDownloadUrl",
    "DocumentId",
    "E164Phone",
    "EmailAddress",
    "FileName",
    "InterviewId",
    "MediaType",
    "NonEmptyStr",
    "Number",
    "OfferId",
    "Percent",
    "RFC3339DateTime",
    "ScreeningId",
    "Sha256Hex",
    "StrictBool",
    "StrictNonNegativeInt",
    "contract_error",
    "e164_number",
    "is_email_address",
    "is_portal_id",
    "is_under_base_url",
    "parse_rfc3339",
]

#: Key of the validation context under which the portal's base URL is passed.
PORTAL_BASE_URL_CONTEXT_KEY: Final = "portal_base_url"

_ERROR_TYPE: Final = "contract_rule"


def contract_error(message: str) -> PydanticCustomError:
    """A validation error with a fixed message; the one error type this package raises."""
    return PydanticCustomError(_ERROR_TYPE, message)


# --- text ------------------------------------------------------------------------------------


def _non_empty(value: str) -> str:
    if not value.strip():
        raise contract_error("must not be empty")
    return value


def _plain_str(value: Any) -> str:
    if not isinstance(value, str):
        raise contract_error("must be a string")
    return value


#: A string with at least one non-blank character.
NonEmptyStr = Annotated[str, PlainValidator(_plain_str), AfterValidator(_non_empty)]


# --- identifiers -----------------------------------------------------------------------------

_ID_BODY: Final = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _prefixed_id(prefix: str) -> Callable[[Any], str]:
    """The check of a portal identifier with ``prefix`` (e.g. ``"cand_"``).

    After the prefix come 1–100 ASCII letters, digits, ``_`` or ``-``: the portal's ids are
    opaque base62 strings, and refusing anything else keeps them safe to use as Redis keys,
    blob path parts and log fields.
    """

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise contract_error("must be a string")
        if not value.startswith(prefix):
            raise contract_error(f"must start with '{prefix}'")
        if _ID_BODY.fullmatch(value, len(prefix)) is None:
            raise contract_error(f"must be '{prefix}' followed by 1 to 100 letters, digits, '_' or '-'")
        return value

    return check


def is_portal_id(value: object, prefix: str) -> bool:
    """Whether ``value`` is a portal identifier with ``prefix`` (e.g. a batch id, ``bat_…``)."""
    return (
        isinstance(value, str)
        and value.startswith(prefix)
        and _ID_BODY.fullmatch(value, len(prefix)) is not None
    )


CandidateId = Annotated[str, PlainValidator(_prefixed_id("cand_"))]
ScreeningId = Annotated[str, PlainValidator(_prefixed_id("scr_"))]
AssessmentId = Annotated[str, PlainValidator(_prefixed_id("asm_"))]
DocumentId = Annotated[str, PlainValidator(_prefixed_id("doc_"))]
InterviewId = Annotated[str, PlainValidator(_prefixed_id("int_"))]
OfferId = Annotated[str, PlainValidator(_prefixed_id("off_"))]

_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _uuid(value: Any) -> UUID:
    # Only the canonical 8-4-4-4-12 form: uuid.UUID() would also take braces, "urn:uuid:" and
    # bare hex, none of which the ATS ever sends.
    if not isinstance(value, str) or _UUID.fullmatch(value) is None:
        raise contract_error("must be a UUID, e.g. 123e4567-e89b-12d3-a456-426614174000")
    return UUID(value)


#: An identifier made by the ATS: a UUID in its canonical text form.
AtsUuid = Annotated[UUID, PlainValidator(_uuid)]


# --- numbers and booleans ---------------------------------------------------------------------


def _number(value: Any) -> Decimal:
    # Decimal comes from json.loads(parse_float=Decimal); int from integer literals. A float
    # only arrives through validate_envelope_object() from a caller that parsed without
    # parse_float: its shortest repr is what the JSON text said, as far as a float can tell.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise contract_error("must be a number")
    if isinstance(value, float):
        value = repr(value)
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite():
        raise contract_error("must be a finite number")
    return number


def _percent_range(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(100):
        raise contract_error("must be between 0 and 100")
    return value


#: A JSON number read exactly as written (never through a float).
Number = Annotated[Decimal, PlainValidator(_number)]
#: A number from 0 to 100 inclusive (screening scores, competency scores, percentiles).
Percent = Annotated[Decimal, PlainValidator(_number), AfterValidator(_percent_range)]


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise contract_error("must be true or false")
    return value


#: ``true`` or ``false`` only: not 1, "yes" or "true" (consent must be stated, not inferred).
StrictBool = Annotated[bool, PlainValidator(_strict_bool)]


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise contract_error("must be an integer")
    if value < 0:
        raise contract_error("must be 0 or more")
    return value


StrictNonNegativeInt = Annotated[int, PlainValidator(_non_negative_int)]


# --- times -----------------------------------------------------------------------------------

# RFC 3339 section 5.6 date-time, with the offset required. Lower-case "t"/"z" and a space as
# separator are allowed by the RFC's notes; fromisoformat() accepts all of them.
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME_MESSAGE: Final = "must be an RFC 3339 date-time with an offset, e.g. 2026-11-28T10:00:00Z"
_DATE_MESSAGE: Final = "must be a date as YYYY-MM-DD"
_DATE_TIME_RANGE_MESSAGE: Final = "must be an instant between years 0001 and 9999 in UTC"


def parse_rfc3339(value: Any) -> datetime:
    """An aware datetime from RFC 3339 text with an offset; a naive or malformed one is refused."""
    if not isinstance(value, str) or _DATE_TIME.fullmatch(value) is None:
        raise contract_error(_DATE_TIME_MESSAGE)
    try:
        # fromisoformat() takes "Z" and any number of fraction digits (it keeps microseconds)
        # but not the lower-case separators RFC 3339 allows; the regex fixed everything else.
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise contract_error(_DATE_TIME_MESSAGE) from None
    # An instant whose UTC date falls outside years 1-9999 (0001-01-01T00:00:00+01:00) parses
    # but cannot be converted or read back from PostgreSQL by Python: refused here, once.
    if not 1 < parsed.year < 9999:
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise contract_error(_DATE_TIME_RANGE_MESSAGE) from None
    return parsed


def _calendar_date(value: Any) -> date:
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise contract_error(_DATE_MESSAGE)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise contract_error(_DATE_MESSAGE) from None


#: An instant written in RFC 3339 with an offset (``Z`` or ``±hh:mm``).
RFC3339DateTime = Annotated[datetime, PlainValidator(parse_rfc3339)]
#: A calendar date, ``YYYY-MM-DD``.
CalendarDate = Annotated[date, PlainValidator(_calendar_date)]


# --- people ----------------------------------------------------------------------------------


# A conservative subset of what email-validator accepts: plain ASCII dot-atom local parts and
# LDH host names with an alphabetic top-level domain, no "--" anywhere in the domain (IDNA
# rules), within the RFC 5321 lengths. Addresses it matches skip the full validator, which
# costs ~60 µs; everything else (Unicode, quoted parts, special-use domains, …) goes through it.
# A property test checks that every fast-path match is accepted by email-validator too.
_FAST_EMAIL: Final = re.compile(
    r"(?=[^@]{1,64}@)[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@(?!.*--)(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE_SUFFIXES: Final = tuple(
    name for domain in SPECIAL_USE_DOMAIN_NAMES for name in (domain, "." + domain)
)


def is_email_address(value: str) -> bool:
    """Whether ``value`` is an email address by syntax (email-validator, no DNS lookups).

    email-validator also refuses domains without a dot and the special-use names of RFC 6761
    (``.test``, ``.invalid``, ``.localhost``, …): no candidate's mailbox can exist there.
    """
    if len(value) <= 254 and _FAST_EMAIL.fullmatch(value) is not None:
        domain = value.rpartition("@")[2].lower()
        if not domain.endswith(_SPECIAL_USE_SUFFIXES):
            return True
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _email(value: Any) -> str:
    if not isinstance(value, str):
        raise contract_error("must be a string")
    if not is_email_address(value):
        raise contract_error("not a valid email address")
    return value


#: An email address, checked by syntax only; kept exactly as sent.
EmailAddress = Annotated[str, PlainValidator(_email)]

_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
_E164_MESSAGE: Final = "must be E.164, e.g. +442071234567"


def e164_number(value: str) -> phonenumbers.PhoneNumber | None:
    """The number an E.164 string names, or ``None`` if it is not ``+`` and 2–15 digits with a
    known country code.

    Built directly rather than with ``phonenumbers.parse`` (~35 µs, most of a profile's
    validation): E.164 country codes are prefix-free, so the first 1–3 digits that form a known
    code are the code, and the rest is the national significant number as written. Unlike
    ``parse``, nothing is stripped: a national trunk prefix (``+44 0 20…``) is not E.164.
    """
    if _E164.fullmatch(value) is None:
        return None
    digits = value[1:]
    for length in (1, 2, 3):
        country_code = int(digits[:length])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[length:]
            if not national:
                return None
            number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
            zeros = len(national) - len(national.lstrip("0"))
            if zeros and zeros < len(national):
                # Italian-style significant leading zeros are part of the number.
                number.italian_leading_zero = True
                number.number_of_leading_zeros = zeros if zeros > 1 else None
            return number
    return None


def _phone(value: Any) -> str:
    if not isinstance(value, str):
        raise contract_error(_E164_MESSAGE)
    number = e164_number(value)
    if number is None:
        raise contract_error(_E164_MESSAGE)
    # "Possible" (a length that country code uses), not "valid" (a range allocated in the
    # library's metadata): allocations change faster than releases, and refusing a real
    # number would lose a profile.
    if not phonenumbers.is_possible_number(number):
        raise contract_error("not a possible phone number for its country code")
    return value


#: A phone number in E.164 form (``+`` and up to 15 digits) that its country code allows.
E164Phone = Annotated[str, PlainValidator(_phone)]

_COUNTRIES: Final = frozenset(country.alpha_2 for country in pycountry.countries)


def _country(value: Any) -> str:
    if not isinstance(value, str) or value not in _COUNTRIES:
        raise contract_error("must be an ISO 3166-1 alpha-2 country code")
    return value


#: An ISO 3166-1 alpha-2 code, upper case as the standard writes it (``GB``).
CountryCode = Annotated[str, PlainValidator(_country)]


# --- documents -------------------------------------------------------------------------------

_SHA256: Final = re.compile(r"[0-9a-f]{64}")


def _sha256(value: Any) -> str:
    if not isinstance(value, str) or _SHA256.fullmatch(value) is None:
        raise contract_error("must be 64 lowercase hexadecimal characters")
    return value


Sha256Hex = Annotated[str, PlainValidator(_sha256)]

# RFC 9110 media type: type "/" subtype, tokens, optional parameters.
_RFC9110_TCHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE: Final = re.compile(
    rf"{_RFC9110_TCHARS}/{_RFC9110_TCHARS}(?:\s*;\s*{_RFC9110_TCHARS}=(?:{_RFC9110_TCHARS}|\"[^\"\\]*\"))*"
)


def _media_type(value: Any) -> str:
    if not isinstance(value, str) or _MEDIA_TYPE.fullmatch(value) is None:
        raise contract_error("must be a media type, e.g. application/pdf")
    return value


MediaType = Annotated[str, PlainValidator(_media_type)]

_FILE_NAME_FORBIDDEN: Final = re.compile(r"[/\\\x00-\x1f\x7f]")


def _file_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise contract_error("must not be empty")
    if _FILE_NAME_FORBIDDEN.search(value) is not None or value in {".", ".."}:
        raise contract_error("must be a plain file name, without path separators or control characters")
    if len(value) > 255:
        raise contract_error("must be at most 255 characters")
    return value


#: A file's name as the candidate gave it: never a path (it may end up in a blob name).
FileName = Annotated[str, PlainValidator(_file_name)]


class _Origin(NamedTuple):
    scheme: str
    host: str
    port: int
    path_prefix: str


_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_DOWNLOAD_URL_MESSAGE: Final = "must be a URL under the portal's base URL"
_URL_CHARS: Final = re.compile(r"[!-~]+")  # printable ASCII, no space, no DEL
_ENCODED_SEPARATORS: Final = re.compile(r"%(?:2[eEfF]|5[cC]|25)")


@lru_cache(maxsize=8)
def _origin(base_url: str) -> _Origin:
    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("the portal base URL must be an absolute http(s) URL")
    return _Origin(
        scheme=scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[scheme],
        path_prefix=parts.path.rstrip("/") + "/",
    )


def is_under_base_url(url: str, base_url: str) -> bool:
    """Whether ``url`` names a resource under ``base_url`` and nothing else could be meant.

    Same scheme, host and effective port (``:443`` written out equals an implicit 443); no
    user info (``https://portal@evil``); a path that starts with the base path followed by
    ``/``, with no ``.``/``..`` or empty segments and no percent-encoded ``.``, ``/``, ``\\``
    or ``%`` (which a server or proxy might decode into a way out of the prefix); no fragment;
    printable ASCII only. A query is allowed (signed URLs carry one). Shared with the document
    transfer, which checks again right before the fetch.
    """
    if len(url) > 2048 or _URL_CHARS.fullmatch(url) is None or "\\" in url:
        return False
    try:
        origin = _origin(base_url)
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme != origin.scheme or "@" in parts.netloc or parts.fragment or "#" in url:
        return False
    if parts.hostname != origin.host or (port or _DEFAULT_PORTS[scheme]) != origin.port:
        return False
    path = parts.path
    if not path.startswith(origin.path_prefix) or _ENCODED_SEPARATORS.search(path) is not None:
        return False
    return all(segment not in {"", ".", ".."} for segment in path[1:].split("/"))


def _download_url(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise contract_error("must be a string")
    context = info.context if isinstance(info.context, dict) else {}
    base_url = context.get(PORTAL_BASE_URL_CONTEXT_KEY)
    # Fail closed: without a base URL to compare with, no URL can be shown to be safe.
    if not isinstance(base_url, str) or not is_under_base_url(value, base_url):
        raise contract_error(_DOWNLOAD_URL_MESSAGE)
    return value


#: A document URL that must lie under ``PORTAL_BASE_URL`` (given in the validation context).
DocumentDownloadUrl = Annotated[str, PlainValidator(_download_url)]
