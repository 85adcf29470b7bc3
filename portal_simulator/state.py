"""Everything the simulated portal holds, in memory, in one object.

One process, no persistence: what a test or a demo needs is the portal's memory of candidates,
documents, interview requests, offers, status updates, the events it generated, and every
webhook delivery with its attempts. ``POST /admin/reset`` empties it (settings are kept).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from portal_simulator.clock import Clock
from portal_simulator.config import Behaviour
from portal_simulator.documents import DocumentFile
from portal_simulator.events import Envelope
from portal_simulator.faults import FaultPlan
from portal_simulator.idempotency import IdempotencyStore
from portal_simulator.profiles import Profile
from portal_simulator.stats import Stats
from portal_simulator.times import rfc3339


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: str
    candidate_id: str
    file: DocumentFile


@dataclass(slots=True)
class InterviewRequest:
    """An interview request the ATS made, and the answer the candidate will give."""

    id: str
    request_id: str
    candidate_id: str
    body: dict[str, Any]
    created_at: datetime
    planned_answer: str
    interview_id: str | None = None
    answer_event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "interview_id": self.interview_id,
            "candidate_id": self.candidate_id,
            "request": self.body,
            "created_at": rfc3339(self.created_at),
            "planned_answer": self.planned_answer,
            "answer_event_id": self.answer_event_id,
        }


@dataclass(slots=True)
class Offer:
    """An offer the ATS sent, and the answer the candidate will give."""

    id: str
    offer_id: str
    candidate_id: str
    body: dict[str, Any]
    created_at: datetime
    planned_answer: str
    answer_event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "offer_id": self.offer_id,
            "candidate_id": self.candidate_id,
            "offer": self.body,
            "created_at": rfc3339(self.created_at),
            "planned_answer": self.planned_answer,
            "answer_event_id": self.answer_event_id,
        }


@dataclass(slots=True)
class Attempt:
    """One POST to the ATS: its status, or the error when no answer came."""

    number: int
    at: datetime
    timestamp: int
    status: int | None
    error: str | None
    duration_ms: float
    faults: tuple[str, ...]

    @property
    def result(self) -> str:
        return str(self.status) if self.status is not None else (self.error or "error")

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.number,
            "at": rfc3339(self.at),
            "webhook_timestamp": self.timestamp,
            "status": self.status,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 1),
            "faults": list(self.faults),
        }


@dataclass(slots=True)
class Delivery:
    """One webhook (or bulk import) and all attempts to deliver it.

    ``outcome``: ``pending`` (first attempt running), ``delivered`` (2xx), ``rejected`` (4xx or
    other non-retryable answer), ``retrying``, ``gave_up`` (attempts exhausted), ``cancelled``.
    """

    id: str
    kind: str
    message_id: str
    event_type: str | None
    url: str
    body: bytes
    content_type: str
    created_at: datetime
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = "pending"
    response_body: Any = None

    @property
    def last_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "message_id": self.message_id,
            "event_type": self.event_type,
            "url": self.url,
            "outcome": self.outcome,
            "status": self.last_status,
            "attempts": [attempt.as_dict() for attempt in self.attempts],
            "response": self.response_body,
        }


@dataclass(slots=True)
class SimulatorState:
    """The portal's memory. ``data_rng`` drives generated data and answers, ``fault_rng`` faults."""

    clock: Clock
    behaviour: Behaviour
    data_rng: random.Random
    fault_rng: random.Random
    idempotency_ttl: timedelta
    public_url: str = ""
    candidates: dict[str, Profile] = field(default_factory=dict)
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    interview_requests: dict[str, InterviewRequest] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    status_updates: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, Envelope] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    idempotency: IdempotencyStore = field(init=False)
    faults: FaultPlan = field(init=False)

    def __post_init__(self) -> None:
        self.idempotency = IdempotencyStore(self.clock, self.idempotency_ttl)
        self.faults = FaultPlan(self.fault_rng)

    def interview_by_request_id(self, request_id: str) -> InterviewRequest | None:
        return next((r for r in self.interview_requests.values() if r.request_id == request_id), None)

    def offer_by_offer_id(self, offer_id: str) -> Offer | None:
        return next((o for o in self.offers.values() if o.offer_id == offer_id), None)

    def deliveries_by_outcome(self) -> dict[str, int]:
        return dict(Counter(delivery.outcome for delivery in self.deliveries))

    def stats_snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(self.deliveries_by_outcome())

    def reset(self) -> None:
        """Forget everything but the settings (behaviour, random sources, public URL)."""
        self.candidates.clear()
        self.documents.clear()
        self.interview_requests.clear()
        self.offers.clear()
        self.status_updates.clear()
        self.events.clear()
        self.deliveries.clear()
        self.stats.reset()
        self.idempotency.clear()
        self.faults.reset()
