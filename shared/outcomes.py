"""What became of one message: a closed set of values, decided first and acted on once.

Every queue-triggered flow (the event processor, the document transfer and verification, the
ATS commands) ends each message in exactly one of these (STYLE.md, "Outcomes as values"): pure
decision code returns one, and one small step per flow writes the rows, re-sends or parks.
Nothing is carried in flags mutated along the way.

* :class:`Processed`: applied.
* :class:`Ignored`: recorded, deliberately without effect (an unknown event type, an answer that
  contradicts an earlier one, a superseded document); ``reason`` says why, for an operator.
* :class:`Failed`: can never apply as sent; recorded with ``reason`` and never retried.
* :class:`RetryLater`: a dependency is transiently unreachable; the message is re-sent to its
  own queue after a backoff that ``not_before`` (seconds, from ``Retry-After`` or the open
  breaker's remaining time) may lengthen, or parked after 24 h.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Processed:
    pass


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    reason: str
    not_before: float | None = None


Outcome = Processed | Ignored | Failed | RetryLater

#: The status word each final outcome is recorded under (``webhook_events.status`` and alike).
STATUS: dict[type[Outcome], str] = {Processed: "processed", Ignored: "ignored", Failed: "failed"}
