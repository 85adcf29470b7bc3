"""How ops prints: aligned columns, cut cells, times in UTC, and no stored value that can drive
the operator's terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ops.report import Document, Fields, Heading, Table, Text, render_json, render_text

pytestmark = pytest.mark.unit


def test_a_table_aligns_its_columns_and_cuts_capped_cells() -> None:
    text = render_text(
        [Table(("id", "reason", "n"), [["evt_1", "x" * 30, 1], ["evt_22", "short", None]], {"reason": 10})]
    )
    assert text.splitlines() == [
        "id      reason      n",
        "evt_1   xxxxxxxxx…  1",
        "evt_22  short       -",
    ]


def test_fields_align_values_and_times_print_in_utc_to_the_second() -> None:
    paris = timezone(timedelta(hours=1))
    text = render_text(
        [Fields([("status", "failed"), ("received_at", datetime(2026, 11, 28, 11, 0, 5, 123, paris))])]
    )
    assert text.splitlines() == ["status:       failed", "received_at:  2026-11-28T10:00:05Z"]


def test_sections_are_separated_by_one_blank_line() -> None:
    text = render_text([Heading("first"), Text("a"), Heading("second"), Text("b")])
    assert text == "first\na\n\nsecond\nb\n"


@pytest.mark.parametrize(
    "hostile",
    [
        "\x1b[2J\x1b[31mred",  # clear the screen, recolour
        "line\nfake: row",  # a fake line of output
        "\u202eevil",  # right-to-left override (Trojan Source)
        "\x9b31m",  # C1 control sequence introducer
        "\u2028sep",
    ],
)
def test_no_stored_value_reaches_the_terminal_raw(hostile: str) -> None:
    text = render_text(
        [
            Table(("value",), [[hostile]]),
            Fields([("reason", hostile)]),
            Document({"x": hostile}),
            Text(hostile),
        ]
    )
    assert all(char == "\n" or char.isprintable() for char in text)
    assert text.count("\n") == 2 + 1 + 3 + 1  # header+row, one field, the document's 3 lines, text


def test_json_is_ascii_with_utc_times_and_parses_back() -> None:
    data = {"name": "Zoë\x1b[31m", "at": datetime(2026, 11, 28, 10, 0, tzinfo=UTC), "none": None}
    text = render_json(data)
    assert text.isascii()
    assert json.loads(text) == {"name": "Zoë\x1b[31m", "at": "2026-11-28T10:00:00+00:00", "none": None}
