"""What a command returns, and how it is printed: aligned text for people, JSON for scripts.

A command builds one :class:`Report`. ``data`` is the ``--json`` document: its keys are an
interface scripts rely on, so a key may be added but never renamed or removed, times are ISO
8601 in UTC, and the same keys appear whether or not anything was found. ``blocks`` are the
human rendering (tables with aligned columns, label/value lists, pretty JSON). ``exit`` is the
process's exit status (:class:`Exit`).

Everything printed passes through one gate: text from the database (payloads, reasons, ids
that came from the outside) has its control and format characters escaped, so no stored value
can move the operator's cursor, recolour the terminal or fake a line of output; ``--json``
escapes every non-ASCII character for the same reason.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any


class Exit(IntEnum):
    """The exit statuses every command keeps."""

    OK = 0
    #: Nothing found for what was named (an id, a resubmit that matched nothing), or refused.
    NOTHING = 1
    #: Bad arguments, or a setting the command needs is missing or malformed.
    USAGE = 2
    #: A service (PostgreSQL, the queues) did not answer; what was not done is intact. Retry.
    UNAVAILABLE = 3


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value lines, values aligned."""

    pairs: Sequence[tuple[str, object]]


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under a header, columns aligned; ``widths`` caps a column (longer cells end in …)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    widths: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Document:
    """A JSON value (a payload), pretty-printed."""

    value: object


Block = Heading | Text | Fields | Table | Document


@dataclass(frozen=True, slots=True)
class Report:
    data: Mapping[str, object]
    blocks: Sequence[Block]
    exit: Exit = Exit.OK


# --------------------------------------------------------------------------- values


def utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _escape(char: str) -> str:
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with control, format and line-separator characters escaped (module docstring)."""
    return "".join(
        _escape(char) if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} else char for char in text
    )


def cell(value: object) -> str:
    """One value as a person reads it: ``-`` for none, times in UTC to the second."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return safe(str(value))


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------- rendering


def render_json(data: Mapping[str, object]) -> str:
    return json.dumps(data, default=_json_default, ensure_ascii=True, indent=2) + "\n"


def _truncate(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def _table(block: Table) -> list[str]:
    cells = [
        [
            _truncate(cell(value), block.widths.get(column))
            for column, value in zip(block.columns, row, strict=True)
        ]
        for row in block.rows
    ]
    widths = [max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(block.columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()

    return [line(block.columns), *(line(row) for row in cells)]


def _fields(block: Fields) -> list[str]:
    width = max((len(label) for label, _ in block.pairs), default=0) + 1
    return [f"{(label + ':').ljust(width)}  {cell(value)}" for label, value in block.pairs]


def _document(block: Document) -> list[str]:
    text = json.dumps(block.value, default=_json_default, ensure_ascii=False, indent=2)
    # split on "\n" alone: splitlines() would also split inside a string at U+2028 and the like
    return [safe(line) for line in text.split("\n")]


_RENDERERS: dict[type, Callable[[Any], list[str]]] = {
    Heading: lambda block: ["", safe(block.text)],  # a blank line before each section
    Text: lambda block: [safe(block.text)],
    Fields: _fields,
    Table: _table,
    Document: _document,
}


def render_text(blocks: Sequence[Block]) -> str:
    lines = [line for block in blocks for line in _RENDERERS[type(block)](block)]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n" if lines else ""
