"""Time as a dependency, so tests can move it (idempotency expiry) instead of sleeping.

Everything in the simulator that reads "now" takes a :data:`Clock`; production uses
:func:`system_clock`, tests pass a :class:`ManualClock`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A zero-argument callable returning an aware ``datetime`` (UTC)."""


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; starts at the real time unless given one."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or system_clock()

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (negative moves it back)."""
        self._now += timedelta(seconds=seconds)
