"""What the pipeline can store and compute with: the one pass over every decoded body.

A delivery the receiver acknowledges must fit PostgreSQL (``webhook_events.payload`` is
``jsonb``; names and ids go into ``text`` columns; scores into ``numeric``) and every reader
after it (psycopg's ``json.loads`` of a ``jsonb`` column, JavaScript, anything reading numbers
as doubles). :func:`find_problems` walks a decoded body once and reports every value that
breaks one of these rules, by its path from the body's root:

========================  ===========================================================
rule                      why
========================  ===========================================================
no U+0000 in any string   PostgreSQL ``text`` cannot hold NUL and ``jsonb`` refuses
or key                    ``\\u0000`` ("unsupported Unicode escape sequence")
no U+D800–U+DFFF          a lone surrogate (only a ``\\u`` escape of four hex digits can make one) is
                          not Unicode text: ``jsonb`` refuses it, UTF-8 cannot encode it
numbers finite            ``NaN``/``Infinity`` are not JSON
\\|number\\| ≤ DOUBLE_MAX  above ~1.8e308 a double overflows to infinity (RFC 7493 §2.2)
≤ 16383 digits after      the most ``numeric`` holds (PostgreSQL refuses more: "value
the decimal point         overflows numeric format")
nesting ≤ 32 levels       a documented bound (objects and arrays, the body is level 1),
                          so no reader ever recurses deeply
========================  ===========================================================

Numbers with more integer digits than a double can hold are also beyond what psycopg reads
back from ``jsonb`` (PostgreSQL writes ``1e5000`` out as 5001 digits; Python refuses integers
over 4300 digits), so the double's range is the one limit for large numbers.

Speed: one walk that only recurses into containers; ASCII strings (``str.isascii`` is O(1))
need only a ``"\\x00" in s`` test; paths are built only for the values that break a rule.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Final

__all__ = [
    "DOUBLE_MAX",
    "MAX_DEPTH",
    "MAX_FRACTION_DIGITS",
    "Problem",
    "ProblemKind",
    "Problems",
    "clearly_storable",
    "deep_container_path",
    "escape_unstorable",
    "find_problems",
    "format_path",
]

#: Objects and arrays may nest this deep, the body itself being level 1.
MAX_DEPTH: Final = 32
#: The most digits after the decimal point PostgreSQL ``numeric`` (and so ``jsonb``) holds.
MAX_FRACTION_DIGITS: Final = 16383
#: The largest finite double; a number of greater magnitude overflows where read as a float.
DOUBLE_MAX: Final = Decimal(sys.float_info.max)
_INT_MAX: Final = int(sys.float_info.max)
#: How many problems of each class a delivery's answer lists (the rest are not named).
MAX_REPORTED: Final = 20

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_UNSTORABLE_TEXT: Final = re.compile("[\x00\ud800-\udfff]")


class ProblemKind(Enum):
    """A rule a value breaks, with its fixed message (never the value itself)."""

    NOT_A_JSON_NUMBER = "NaN and Infinity are not JSON numbers"
    TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels of objects and arrays"
    NUL = "must not contain the character U+0000 (NUL)"
    SURROGATE = "must not contain an unpaired surrogate (U+D800 to U+DFFF)"
    KEY_NUL = "the key must not contain the character U+0000 (NUL)"
    KEY_SURROGATE = "the key must not contain an unpaired surrogate (U+D800 to U+DFFF)"
    NUMBER_TOO_LARGE = f"must be at most {sys.float_info.max!r} in magnitude (a double's range)"
    TOO_MANY_FRACTION_DIGITS = f"must have at most {MAX_FRACTION_DIGITS} digits after the decimal point"

    @property
    def unreadable(self) -> bool:
        """Whether the body as a whole is not JSON the pipeline reads (400 ``not_json``),
        rather than one value that cannot be stored."""
        return self in (ProblemKind.NOT_A_JSON_NUMBER, ProblemKind.TOO_DEEP)

    @property
    def refused_by_jsonb(self) -> bool:
        """Whether PostgreSQL refuses a ``jsonb`` document holding such a value (it takes
        numbers up to 131072 integer digits, so most numbers too large for a double fit)."""
        return self not in (ProblemKind.NUMBER_TOO_LARGE, ProblemKind.TOO_DEEP)


Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One value that breaks a rule; ``path`` starts at the body's root (``("data", "x", 0)``)."""

    path: Path
    kind: ProblemKind

    @property
    def message(self) -> str:
        return self.kind.value


@dataclass(slots=True)
class Problems:
    """What :func:`find_problems` found: the unreadable (non-JSON numbers, nesting) apart
    from the unstorable (text, number range), each list capped at :data:`MAX_REPORTED`;
    ``refused_by_jsonb``: some value (listed or not) makes PostgreSQL refuse the body as
    ``jsonb``, so a rejection keeps it as text."""

    unreadable: list[Problem] = field(default_factory=list)
    unstorable: list[Problem] = field(default_factory=list)
    refused_by_jsonb: bool = False

    def add(self, path: Path, kind: ProblemKind) -> None:
        self.refused_by_jsonb = self.refused_by_jsonb or kind.refused_by_jsonb
        bucket = self.unreadable if kind.unreadable else self.unstorable
        if len(bucket) < MAX_REPORTED:
            bucket.append(Problem(path, kind))


def find_problems(body: object) -> Problems:
    """Every value of a decoded JSON body that the pipeline cannot store or compute with.

    ``body`` is what a JSON decoder built: dicts, lists, str, int, ``Decimal`` (or float),
    bool and None. Containers below level :data:`MAX_DEPTH` are reported, not entered.
    """
    problems = Problems()
    if type(body) is dict or type(body) is list:
        _walk(body, 1, [], problems)
    elif (kind := _scalar_problem(body)) is not None:
        problems.add((), kind)
    return problems


def _walk(container: Any, depth: int, path: list[str | int], problems: Problems) -> None:
    items = container.items() if type(container) is dict else enumerate(container)
    for key, item in items:
        if type(key) is str and ("\x00" in key or (not key.isascii() and _SURROGATE.search(key))):
            problems.add((*path, key), ProblemKind.KEY_NUL if "\x00" in key else ProblemKind.KEY_SURROGATE)
        item_type = type(item)
        if item_type is str:
            if "\x00" in item or (not item.isascii() and _SURROGATE.search(item) is not None):
                problems.add((*path, key), ProblemKind.NUL if "\x00" in item else ProblemKind.SURROGATE)
        elif item_type is dict or item_type is list:
            if depth >= MAX_DEPTH:
                problems.add((*path, key), ProblemKind.TOO_DEEP)
                continue
            path.append(key)
            _walk(item, depth + 1, path, problems)
            path.pop()
        elif item_type is not bool and item is not None:
            kind = _number_problem(item)
            if kind is not None:
                problems.add((*path, key), kind)


def _scalar_problem(value: object) -> ProblemKind | None:
    if isinstance(value, str):
        if _UNSTORABLE_TEXT.search(value) is None:
            return None
        return ProblemKind.NUL if "\x00" in value else ProblemKind.SURROGATE
    return _number_problem(value)


def _number_problem(value: object) -> ProblemKind | None:
    if type(value) is int:
        return None if -_INT_MAX <= value <= _INT_MAX else ProblemKind.NUMBER_TOO_LARGE
    if isinstance(value, Decimal):
        if not value.is_finite():
            return ProblemKind.NOT_A_JSON_NUMBER
        # adjusted() is the exponent of the leading digit: below 308 the number cannot exceed
        # DOUBLE_MAX, so the exact comparison runs only for numbers near or above it.
        if value.adjusted() >= 308 and abs(value) > DOUBLE_MAX:
            return ProblemKind.NUMBER_TOO_LARGE
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_FRACTION_DIGITS:
            return ProblemKind.TOO_MANY_FRACTION_DIGITS
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return ProblemKind.NOT_A_JSON_NUMBER
    return None


# --- the fast path for the common body -------------------------------------------------------

# What could make a decoded body break a rule shows in its JSON text: an escaped NUL or
# surrogate (JSON text cannot carry them raw), a non-finite literal, a run of 300 digits (beyond
# a double's integer range; numeric's fraction digits are far more) or a number with a
# three-digit exponent. Each test is a byte search in C (digits first mapped to one digit); the
# few exponent-like matches are then looked at in Python, so that identifiers such as
# "evt_3e312" do not count as numbers. Anything else that matches (inside a string, say) only
# means the full walk decides.
_ESCAPE: Final = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
#: Every digit as ``0``, so that digit runs and exponents are found by plain substring search.
_DIGITS_AS_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN: Final = b"0" * 300
_EXPONENT_MARKS: Final = tuple(b"0" + e + sign + b"000" for e in (b"e", b"E") for sign in (b"", b"+", b"-"))
_NUMBER_PART: Final = frozenset(b"0123456789.")
_WORD_PART: Final = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def clearly_storable(raw: bytes) -> bool:
    """True when the JSON text ``raw`` (already decoded as JSON) cannot hold anything
    :func:`find_problems` reports; False means "walk it". Sound, not complete: at most
    ``MAX_DEPTH`` brackets cannot nest deeper than ``MAX_DEPTH``, and every other rule needs one
    of the patterns above in the text. Most deliveries take this path: byte searches in C,
    a few microseconds, instead of a walk over every value in Python."""
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or b"NaN" in raw or b"Infinity" in raw:
        return False
    if b"\\u" in raw and _ESCAPE.search(raw) is not None:
        return False
    digits = raw.translate(_DIGITS_AS_ZERO)
    if _LONG_RUN in digits:
        return False
    for mark in _EXPONENT_MARKS:
        at = digits.find(mark)
        while at != -1:
            if _is_number_exponent(raw, at + 1):
                return False
            at = digits.find(mark, at + 1)
    return True


def _is_number_exponent(raw: bytes, at: int) -> bool:
    """Whether the ``e`` at ``at`` ends the mantissa of a number token (digits, maybe a point
    and a sign, not glued to a word)."""
    start = at
    while start > 0 and raw[start - 1] in _NUMBER_PART:
        start -= 1
    if start == at:
        return False
    if start > 0 and raw[start - 1] == ord("-"):
        start -= 1
    return start == 0 or raw[start - 1] not in _WORD_PART


# --- paths -----------------------------------------------------------------------------------

_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_KEY_SHOWN: Final = 64


def format_path(path: Sequence[str | int]) -> str:
    """A path as errors name it: ``candidate.work_history[0].start_date``.

    A key that is not a plain name (``0``, ``a.b``, a key with spaces, NUL or a surrogate) is
    written as a JSON string in brackets, ASCII only and cut at 64 characters
    (``extra["a\\u0000b"]``), so a field name is always storable and unambiguous.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part) is not None:
            out = f"{out}.{part}" if out else part
        else:
            shown = part if len(part) <= _KEY_SHOWN else part[:_KEY_SHOWN] + "..."
            out += f"[{json.dumps(shown)}]"
    return out


def escape_unstorable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as ``\\u0000`` and ``\\ud800``-style escapes (six ASCII
    characters), for identifiers and messages that must go into ``text`` columns whatever
    arrived."""
    if _UNSTORABLE_TEXT.search(text) is None:
        return text
    return _UNSTORABLE_TEXT.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# --- nesting beyond what the decoder reaches ------------------------------------------------

# Strings (with their escapes) and the six structural characters; numbers, literals and
# white space between them do not change the nesting.
_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]', re.DOTALL)


@dataclass(slots=True)
class _Frame:
    is_object: bool
    at: str | int | None  # the current key (objects) or index (arrays)
    expecting_key: bool


def deep_container_path(text: str) -> Path | None:
    """The path of the first object or array at level ``MAX_DEPTH + 1`` in JSON ``text``.

    For bodies nested too deep for the decoder itself (it raises ``RecursionError``): this
    reads only the structure, with a stack of at most :data:`MAX_DEPTH` frames, so it never
    recurses. ``None`` when the text is not nested that deep (or is not JSON enough to tell).
    """
    stack: list[_Frame] = []
    for match in _TOKENS.finditer(text):
        token = match.group()
        first = token[0]
        if first in "{[":
            if len(stack) == MAX_DEPTH:
                path = tuple(frame.at for frame in stack)
                return None if None in path else path  # type: ignore[return-value]
            is_object = first == "{"
            stack.append(_Frame(is_object, None if is_object else 0, is_object))
        elif not stack:
            return None
        elif first in "}]":
            stack.pop()
        else:
            frame = stack[-1]
            if first == ",":
                if frame.is_object:
                    frame.at, frame.expecting_key = None, True
                elif isinstance(frame.at, int):
                    frame.at += 1
            elif first == ":":
                frame.expecting_key = False
            elif frame.is_object and frame.expecting_key:
                try:
                    frame.at = json.loads(token)
                except ValueError:
                    return None
    return None
