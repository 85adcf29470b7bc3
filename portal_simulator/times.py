"""RFC 3339 timestamps as the portal writes them: always with an offset, not always ``Z``.

A real portal's clients live in many time zones, so generated times sometimes carry a non-UTC
offset; the instant is the same, and a receiver must parse the offset rather than assume UTC.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

_OFFSETS_MINUTES = (60, 120, -300, -240, 330, 540, -180)


def rfc3339(moment: datetime) -> str:
    """``moment`` as RFC 3339 with second precision; UTC is written ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the contract requires an offset")
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def rfc3339_varied(moment: datetime, rng: random.Random, *, utc_share: float = 0.7) -> str:
    """The same instant, written in UTC (``utc_share`` of the time) or with another offset."""
    if rng.random() < utc_share:
        return rfc3339(moment.astimezone(UTC))
    offset = timezone(timedelta(minutes=rng.choice(_OFFSETS_MINUTES)))
    return rfc3339(moment.astimezone(offset))
