"""``Idempotency-Key`` memory, exactly as the contract states it.

For ``ttl`` (24 h) after a 2xx, a repeated key gets that first answer again and nothing is done
twice; an error answer is not remembered, so the key can be sent again after a failure; the
same key with a different request after a 2xx is a conflict (409). "Different" compares JSON
values, not bytes: key order and white space do not matter, ``1`` equals ``1.0``, but ``true``
is not ``1``. A key is bound to the method and path it was first used with: the same key on
another endpoint is a different request.

Requests with the same key are serialised (one lock per key), so two concurrent repeats cannot
both act.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from portal_simulator.clock import Clock


def json_equal(left: Any, right: Any) -> bool:
    """Whether two parsed JSON values (numbers as ``int`` or ``Decimal``) are the same value."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float | Decimal) and isinstance(right, int | float | Decimal):
        return Decimal(left) == Decimal(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


@dataclass(frozen=True, slots=True)
class RememberedAnswer:
    """A 2xx answer and the request it answered."""

    method: str
    path: str
    body: Any
    status: int
    content: bytes
    media_type: str
    stored_at: datetime

    def same_request(self, method: str, path: str, body: Any) -> bool:
        return self.method == method and self.path == path and json_equal(self.body, body)


class IdempotencyStore:
    """In-memory answers by key, forgotten ``ttl`` after they were stored (by the injected clock)."""

    def __init__(self, clock: Clock, ttl: timedelta = timedelta(hours=24)) -> None:
        self._clock = clock
        self._ttl = ttl
        self._answers: dict[str, RememberedAnswer] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def lookup(self, key: str) -> RememberedAnswer | None:
        answer = self._answers.get(key)
        if answer is not None and self._clock() - answer.stored_at >= self._ttl:
            del self._answers[key]
            return None
        return answer

    def remember(
        self, key: str, *, method: str, path: str, body: Any, status: int, content: bytes, media_type: str
    ) -> None:
        self._answers[key] = RememberedAnswer(method, path, body, status, content, media_type, self._clock())

    def clear(self) -> None:
        self._answers.clear()
        self._locks.clear()

    def __len__(self) -> int:
        return len(self._answers)
