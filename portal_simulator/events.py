"""Event envelopes and the ``data`` of every event type in the contract, valid and varied.

Each builder returns the ``data`` object of one type; :meth:`EventFactory.envelope` wraps it as
``{"id": "evt_…", "type", "created_at", "data"}``. Scores are JSON numbers with one decimal
(82.5), consistent with the recommendation most of the time but not always (the AI is not
the ATS's judge). The builders take what they refer to (a candidate's profile, a request id)
from the caller, so events always refer to things the simulator knows.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from portal_simulator import ids, vocab
from portal_simulator.clock import Clock
from portal_simulator.documents import KINDS, DocumentFile, DocumentSpec, document_for
from portal_simulator.profiles import Profile, ascii_slug
from portal_simulator.times import rfc3339, rfc3339_varied

Data = dict[str, Any]
Envelope = dict[str, Any]

CANDIDATE_EVENTS = ("candidate.created", "candidate.updated")
EVENT_TYPES = (
    "candidate.created",
    "candidate.updated",
    "screening.completed",
    "candidate.withdrawn",
    "assessment.completed",
    "assessment.failed",
    "document.uploaded",
    "interview.scheduled",
    "interview.declined",
    "interview.cancelled",
    "offer.accepted",
    "offer.declined",
)


def _one_decimal(value: float) -> float:
    return round(value, 1)


class EventFactory:
    """Builds envelopes and event data from one random source and one clock."""

    def __init__(self, rng: random.Random, id_factory: ids.IdFactory, clock: Clock) -> None:
        self._rng = rng
        self._ids = id_factory
        self._clock = clock

    def envelope(self, event_type: str, data: Data) -> Envelope:
        return {
            "id": self._ids.new(ids.EVENT),
            "type": event_type,
            "created_at": rfc3339(self._clock()),
            "data": data,
        }

    def _recently(self, max_minutes: int = 60) -> str:
        return rfc3339_varied(self._clock() - timedelta(minutes=self._rng.randint(0, max_minutes)), self._rng)

    def candidate(self, profile: Profile) -> Data:
        return {"candidate": dict(profile)}

    def screening(self, profile: Profile) -> Data:
        rng = self._rng
        score = _one_decimal(rng.triangular(5, 99, 65))
        natural = "advance" if score >= 70 else "review" if score >= 40 else "reject"
        recommendation = natural if rng.random() < 0.85 else rng.choice(("advance", "review", "reject"))
        competencies = [
            {"name": name, "score": _one_decimal(min(100.0, max(0.0, rng.gauss(score, 12))))}
            for name in rng.sample(vocab.COMPETENCIES, rng.randint(2, 5))
        ]
        screening: Data = {
            "id": self._ids.new(ids.SCREENING),
            "candidate_id": profile["id"],
            "requisition_id": profile["requisition_id"],
            "model": rng.choice(("portal-ai-3.2", "portal-ai-3.2", "portal-ai-3.1")),
            "score": score,
            "recommendation": recommendation,
            "competencies": competencies,
            "completed_at": self._recently(),
        }
        if rng.random() < 0.7:
            screening["summary"] = rng.choice(vocab.SCREENING_SUMMARIES)
        return {"screening": screening}

    def withdrawn(self, candidate_id: str) -> Data:
        candidate: Data = {"id": candidate_id, "withdrawn_at": self._recently(30)}
        reason = self._rng.choice(vocab.WITHDRAWAL_REASONS)
        if reason is not None:
            candidate["reason"] = reason
        return {"candidate": candidate}

    def assessment(self, candidate_id: str, *, failed: bool, public_url: str) -> Data:
        rng = self._rng
        assessment_id = self._ids.new(ids.ASSESSMENT)
        assessment: Data = {
            "id": assessment_id,
            "candidate_id": candidate_id,
            "assessment_type": rng.choice(vocab.ASSESSMENT_TYPES),
            "status": "failed" if failed else "completed",
        }
        if not failed:
            max_score = rng.choice((100, 100, 100, 50, 20))
            assessment["score"] = _one_decimal(rng.uniform(0.25, 1.0) * max_score)
            if max_score != 100 or rng.random() < 0.5:
                assessment["max_score"] = max_score
            if rng.random() < 0.6:
                assessment["percentile"] = rng.randint(1, 99)
            assessment["report_url"] = f"{public_url}/reports/{assessment_id}"
        if rng.random() < 0.9:
            assessment["completed_at"] = self._recently()
        return {"assessment": assessment}

    def document(
        self,
        profile: Profile,
        *,
        public_url: str,
        kind: str | None = None,
        spec: DocumentSpec | None = None,
    ) -> tuple[Data, DocumentFile]:
        rng = self._rng
        kind = kind or (spec.kind if spec is not None else None) or rng.choice(KINDS)
        owner = f"{ascii_slug(str(profile['first_name']))}_{ascii_slug(str(profile['last_name']))}"
        file = document_for(kind, owner, rng, spec)
        document_id = self._ids.new(ids.DOCUMENT)
        data = {
            "document": {
                "id": document_id,
                "candidate_id": profile["id"],
                "kind": kind,
                "file_name": file.file_name,
                "content_type": file.content_type,
                "size_bytes": file.size,
                "sha256": file.sha256,
                "download_url": f"{public_url}/v1/documents/{document_id}/content",
                "uploaded_at": self._recently(10),
            }
        }
        return data, file

    def interview(
        self,
        status: str,
        *,
        candidate_id: str,
        request_id: str,
        interview_id: str | None = None,
        slot: tuple[str, str] | None = None,
        timezone: str | None = None,
    ) -> Data:
        interview: Data = {
            "id": interview_id or self._ids.new(ids.INTERVIEW),
            "request_id": request_id,
            "candidate_id": candidate_id,
            "status": status,
        }
        if status == "scheduled":
            start, end = slot or self._future_slot()
            interview["scheduled_start"] = start
            interview["scheduled_end"] = end
            interview["timezone"] = timezone or self._rng.choice(vocab.LOCATIONS)[3]
            interview["meeting_url"] = f"https://meet.portal.example/{interview['id']}"
        elif timezone is not None:
            interview["timezone"] = timezone
        return {"interview": interview}

    def offer(
        self,
        status: str,
        *,
        candidate_id: str,
        offer_id: str,
        portal_offer_id: str | None = None,
        start_date: str | None = None,
    ) -> Data:
        offer: Data = {
            "id": portal_offer_id or self._ids.new(ids.OFFER),
            "offer_id": offer_id,
            "candidate_id": candidate_id,
            "status": status,
            "responded_at": rfc3339_varied(self._clock(), self._rng),
        }
        if status == "accepted":
            offer["start_date"] = (
                start_date or (date(2027, 1, 4) + timedelta(weeks=self._rng.randint(0, 12))).isoformat()
            )
        return {"offer": offer}

    def unknown(self, event_type: str) -> Data:
        """Data for a type the contract does not define (the ATS must accept and keep it)."""
        return {"note": {"id": self._ids.new("note"), "text": f"{event_type} from the simulator"}}

    def _future_slot(self) -> tuple[str, str]:
        start = (self._clock() + timedelta(days=self._rng.randint(1, 14))).replace(minute=0, second=0)
        return rfc3339(start), rfc3339(start + timedelta(minutes=self._rng.choice((30, 45, 60))))


def first_slot(slots: list[dict[str, Any]]) -> tuple[str, str]:
    """The first proposed slot of an interview request, as the strings the ATS sent."""
    return str(slots[0]["start"]), str(slots[0]["end"])
