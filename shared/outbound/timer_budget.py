"""How much work one replay run may do: its timer's interval, read from ``SYNC_REPLAY_SCHEDULE``.

A run that outlasts its interval would either overlap the next (the host skips the next tick
instead, and the queue waits a whole interval) or hold leases longer than needed; so a run stops
claiming new rows once it has used most of its interval (:data:`BUDGET_SHARE`), leaving the rest
for the calls it started last (DESIGN.md: "a run never overlaps the next and never does more
than its interval's worth of work").

The schedule is a 6-field NCRONTAB (``second minute hour day month weekday``) or a TimeSpan
(``hh:mm:ss``). The interval of an NCRONTAB is the shortest gap between two consecutive fires in
the hour after ``start`` (scanned second by second, once per worker); a schedule that fires less
than twice in that hour gets :data:`MAX_BUDGET_SECONDS`, which also caps every budget: a lease
(60 s) must outlast the run that took it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

MAX_BUDGET_SECONDS: Final = 30.0
#: The share of its interval a run spends claiming work: the calls it started last must end
#: before the next tick, or the host skips that tick and the queue waits a whole interval.
BUDGET_SHARE: Final = 0.8
_SCAN: Final = 3600
_TIMESPAN: Final = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")
_NAMES: Final = {
    name: number
    for names in (
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
    )
    for number, name in enumerate(names, start=1 if len(names) == 12 else 0)
}
#: (lowest, highest) value of each field, in NCRONTAB order.
_RANGES: Final = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _value(text: str) -> int:
    return _NAMES[text.upper()] if text.upper() in _NAMES else int(text)


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec in ("*", "?"):
            first, last = low, high
        elif "-" in spec:
            a, b = spec.split("-", 1)
            first, last = _value(a), _value(b)
        else:
            first = _value(spec)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(v % 7 if (low, high) == (0, 6) else v for v in values)


def _fires(fields: tuple[frozenset[int], ...], moment: datetime) -> bool:
    second, minute, hour, day, month, weekday = fields
    return (
        moment.second in second
        and moment.minute in minute
        and moment.hour in hour
        and moment.day in day
        and moment.month in month
        and (moment.isoweekday() % 7) in weekday
    )


def interval_seconds(schedule: str, *, start: datetime | None = None) -> float:
    """The interval of ``schedule`` (see the module docstring), capped at 30 s."""
    timespan = _TIMESPAN.match(schedule.strip())
    if timespan:
        days, hours, minutes, seconds = (int(g or 0) for g in timespan.groups())
        total = days * 86400 + hours * 3600 + minutes * 60 + seconds
        return min(float(max(total, 1)), MAX_BUDGET_SECONDS)
    parts = schedule.split()
    try:
        fields = tuple(_field(text, low, high) for text, (low, high) in zip(parts, _RANGES, strict=True))
    except (ValueError, KeyError):
        return MAX_BUDGET_SECONDS
    moment = (start or datetime.now(UTC)).replace(microsecond=0)
    previous: datetime | None = None
    shortest = MAX_BUDGET_SECONDS
    for offset in range(_SCAN):
        candidate = moment + timedelta(seconds=offset)
        if _fires(fields, candidate):
            if previous is not None:
                shortest = min(shortest, (candidate - previous).total_seconds())
                if shortest <= 1:
                    break
            previous = candidate
    return shortest


def budget_seconds(schedule: str, *, start: datetime | None = None) -> float:
    """How long one run of ``schedule`` may claim work: :data:`BUDGET_SHARE` of its interval."""
    return BUDGET_SHARE * interval_seconds(schedule, start=start)
