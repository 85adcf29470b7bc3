"""Turning "N events of this type" into envelopes the portal really knows about.

Events about a candidate refer to a candidate in the portal's memory (given by id, or a new one
registered on the spot: the ATS may not know it yet and then fetches it with ``GET
/v1/candidates/{id}``). Side effects are committed only for valid events: a profile is stored
when a ``candidate.*`` event carries it, a document's bytes when ``document.uploaded``
announces them. Interview and offer answers reuse the candidate's latest request or offer when
it has one. ``invalid`` events break one rule each (see :mod:`portal_simulator.invalid`).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from portal_simulator import ids
from portal_simulator.documents import DocumentSpec
from portal_simulator.events import CANDIDATE_EVENTS, EVENT_TYPES, Data, Envelope, EventFactory
from portal_simulator.invalid import InvalidCase, cases_for
from portal_simulator.profiles import Profile, ProfileGenerator
from portal_simulator.state import SimulatorState, StoredDocument


class EventsRequest(BaseModel):
    """Body of ``POST /admin/events``."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=1000)
    candidate: str | None = None
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    shuffle: bool = False
    invalid: bool = False
    invalid_rule: str | None = None
    overrides: dict[str, Any] | None = None
    document: DocumentSpec | None = None
    deliver: bool = True


class UnknownCandidate(LookupError):
    """An admin request named a candidate the portal does not know."""


class NoInvalidCase(ValueError):
    """No invalid case applies to the requested type (and rule)."""


@dataclass(frozen=True, slots=True)
class GeneratedEvent:
    envelope: Envelope
    duplicate: bool = False
    invalid: InvalidCase | None = None


class EventGenerator:
    """Builds events from the factory and the portal's memory, and commits their side effects."""

    def __init__(
        self,
        *,
        state: SimulatorState,
        factory: EventFactory,
        profiles: ProfileGenerator,
        id_factory: ids.IdFactory,
    ) -> None:
        self._state = state
        self._factory = factory
        self._profiles = profiles
        self._ids = id_factory

    def register_candidate(self, profile: Profile | None = None) -> Profile:
        """Store ``profile`` (a new generated one when None) as a candidate the portal knows."""
        stored = dict(profile) if profile is not None else self._profiles.new()
        self._state.candidates[str(stored["id"])] = stored
        return stored

    def batch(self, request: EventsRequest) -> list[GeneratedEvent]:
        """``count`` events of one type, then duplicates (same id) and shuffling as asked."""
        if request.candidate is not None and request.candidate not in self._state.candidates:
            raise UnknownCandidate(request.candidate)
        cases: itertools.cycle[InvalidCase] | None = None
        if request.invalid:
            applicable = cases_for(request.type, request.invalid_rule)
            if not applicable:
                raise NoInvalidCase(
                    f"no invalid case for {request.type} {request.invalid_rule or ''}".strip()
                )
            offset = self._state.data_rng.randrange(len(applicable))
            cases = itertools.cycle(applicable[offset:] + applicable[:offset])
        events = [
            self.one(
                request.type,
                candidate_id=request.candidate,
                overrides=request.overrides,
                invalid=next(cases) if cases is not None else None,
                document=request.document,
            )
            for _ in range(request.count)
        ]
        rng = self._state.data_rng
        with_duplicates: list[GeneratedEvent] = []
        for event in events:
            with_duplicates.append(event)
            if request.duplicate_rate and rng.random() < request.duplicate_rate:
                with_duplicates.append(GeneratedEvent(copy.deepcopy(event.envelope), True, event.invalid))
        if request.shuffle:
            rng.shuffle(with_duplicates)
        return with_duplicates

    def one(
        self,
        event_type: str,
        *,
        candidate_id: str | None = None,
        overrides: dict[str, Any] | None = None,
        invalid: InvalidCase | None = None,
        document: DocumentSpec | None = None,
    ) -> GeneratedEvent:
        known = self._state.candidates.get(candidate_id) if candidate_id is not None else None
        if candidate_id is not None and known is None:
            raise UnknownCandidate(candidate_id)
        profile = known
        if profile is None:
            profile = self._profiles.new()
            if event_type not in CANDIDATE_EVENTS:
                self.register_candidate(profile)
        data, stored = self._data(event_type, profile, document)
        if overrides:
            for inner in data.values():
                if isinstance(inner, dict):
                    inner.update(copy.deepcopy(overrides))
        envelope = self._factory.envelope(event_type, data)
        if invalid is not None:
            invalid.mutate(envelope, self._state.data_rng)
            return GeneratedEvent(envelope, invalid=invalid)
        if event_type in CANDIDATE_EVENTS:
            self.register_candidate(data["candidate"])
        if stored is not None:
            self._state.documents[stored.id] = stored
        return GeneratedEvent(envelope)

    def _data(
        self, event_type: str, profile: Profile, document: DocumentSpec | None = None
    ) -> tuple[Data, StoredDocument | None]:
        factory, state = self._factory, self._state
        candidate_id = str(profile["id"])
        if event_type == "candidate.created":
            return factory.candidate(profile), None
        if event_type == "candidate.updated":
            return factory.candidate(self._profiles.updated(profile)), None
        if event_type == "screening.completed":
            return factory.screening(profile), None
        if event_type == "candidate.withdrawn":
            return factory.withdrawn(candidate_id), None
        if event_type in ("assessment.completed", "assessment.failed"):
            failed = event_type == "assessment.failed"
            return factory.assessment(candidate_id, failed=failed, public_url=state.public_url), None
        if event_type == "document.uploaded":
            data, file = factory.document(profile, public_url=state.public_url, spec=document)
            return data, StoredDocument(str(data["document"]["id"]), candidate_id, file)
        if event_type.startswith("interview.") and event_type in EVENT_TYPES:
            return self._interview(event_type.split(".")[1], candidate_id), None
        if event_type.startswith("offer.") and event_type in EVENT_TYPES:
            return self._offer(event_type.split(".")[1], candidate_id), None
        return factory.unknown(event_type), None

    def _interview(self, status: str, candidate_id: str) -> Data:
        requests = [r for r in self._state.interview_requests.values() if r.candidate_id == candidate_id]
        if not requests:
            return self._factory.interview(status, candidate_id=candidate_id, request_id=self._ids.uuid())
        latest = requests[-1]
        slots = latest.body.get("proposed_slots") or []
        slot = (str(slots[0]["start"]), str(slots[0]["end"])) if slots else None
        return self._factory.interview(
            status,
            candidate_id=candidate_id,
            request_id=latest.request_id,
            interview_id=latest.interview_id,
            slot=slot,
            timezone=latest.body.get("timezone"),
        )

    def _offer(self, status: str, candidate_id: str) -> Data:
        offers = [o for o in self._state.offers.values() if o.candidate_id == candidate_id]
        if not offers:
            return self._factory.offer(status, candidate_id=candidate_id, offer_id=self._ids.uuid())
        latest = offers[-1]
        return self._factory.offer(
            status,
            candidate_id=candidate_id,
            offer_id=latest.offer_id,
            portal_offer_id=latest.id,
            start_date=latest.body.get("start_date"),
        )
