"""The bulk profile import: one signed NDJSON request of ``candidate.created``/``updated``
envelopes to ``{ATS}/api/portal/candidates/import``, ``webhook-id`` a ``bat_`` batch id.

``invalid_lines`` of the ``count`` lines break one rule each (labelled like
:mod:`portal_simulator.invalid`), at random positions, so the ATS's per-line report can be
checked line by line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portal_simulator import ids
from portal_simulator.generation import EventGenerator, GeneratedEvent
from portal_simulator.invalid import cases_for
from portal_simulator.state import SimulatorState

NDJSON = "application/x-ndjson"


class ImportRequest(BaseModel):
    """Body of ``POST /admin/import``."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=10, ge=1, le=10_000)
    invalid_lines: int = Field(default=0, ge=0)
    updated_share: float = Field(default=0.2, ge=0, le=1)
    deliver: bool = True

    @model_validator(mode="after")
    def _invalid_within_count(self) -> ImportRequest:
        if self.invalid_lines > self.count:
            raise ValueError("invalid_lines cannot exceed count")
        return self


@dataclass(frozen=True, slots=True)
class ImportBatch:
    batch_id: str
    lines: list[GeneratedEvent]

    @property
    def body(self) -> bytes:
        return b"".join(serialize(line.envelope) + b"\n" for line in self.lines)


def serialize(envelope: object) -> bytes:
    """The exact bytes the portal sends (and signs): compact UTF-8 JSON."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def build_batch(
    request: ImportRequest, *, generator: EventGenerator, state: SimulatorState, id_factory: ids.IdFactory
) -> ImportBatch:
    rng = state.data_rng
    invalid_at = set(rng.sample(range(request.count), request.invalid_lines))
    cases = cases_for("candidate.created")
    lines: list[GeneratedEvent] = []
    for index in range(request.count):
        known = list(state.candidates)
        if known and rng.random() < request.updated_share:
            event_type, candidate = "candidate.updated", rng.choice(known)
        else:
            event_type, candidate = "candidate.created", None
        invalid = cases[index % len(cases)] if index in invalid_at else None
        lines.append(generator.one(event_type, candidate_id=candidate, invalid=invalid))
    return ImportBatch(id_factory.new(ids.BATCH), lines)
