"""When a failed ``sync_queue`` row is tried again: DESIGN.md's schedule, as data.

``retry_count`` counts failed attempts, the first included. After failed attempt *n* (1 to 5)
the row waits ``BACKOFF_SECONDS[n - 1] × (1 + U[0, 0.2))`` (1, 2, 4, 8, 16 s, with jitter from
an injectable random source so that rows failed together do not come back together), or the
portal's ``Retry-After`` when that is longer, capped at 300 s. When attempt 6 fails the row is
``failed``. A call that was never made (the breaker open, our API key refused) is not an
attempt: the row waits as long as it was asked to, and its count stays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

#: Wait after failed attempt n, for n = 1..5, before jitter.
BACKOFF_SECONDS: Final = (1.0, 2.0, 4.0, 8.0, 16.0)
#: Attempts in all: the first and one after each wait.
MAX_ATTEMPTS: Final = len(BACKOFF_SECONDS) + 1
#: The jitter's upper bound, as a share of the wait (excluded).
JITTER: Final = 0.2
RETRY_AFTER_CAP_SECONDS: Final = 300.0
#: A call deferred without an attempt (no Retry-After known) waits at least this long.
MIN_DEFER_SECONDS: Final = 1.0

#: A source of U[0, 1), like :func:`random.random`.
RandomSource = Callable[[], float]


def retry_delay(failed_attempts: int, *, retry_after: float | None, random: RandomSource) -> float | None:
    """Seconds to wait after ``failed_attempts`` failures, or None when the row has failed.

    ``retry_after`` (the portal's ``Retry-After``) lengthens the wait, never shortens it.
    """
    if failed_attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    base = BACKOFF_SECONDS[failed_attempts - 1]
    # U close to 1 rounds 1 + 0.2 U up to 1.2 in floating point: keep the bound open.
    delay = min(base * (1.0 + JITTER * random()), math.nextafter(base * (1.0 + JITTER), 0.0))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return delay


def defer_delay(not_before: float | None) -> float:
    """Seconds a row waits when no call was made: what it was told, capped, at least 1 s."""
    if not_before is None:
        return MIN_DEFER_SECONDS
    return min(max(not_before, MIN_DEFER_SECONDS), RETRY_AFTER_CAP_SECONDS)
