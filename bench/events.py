"""Valid, varied portal events for the benchmark, with unique ids, and the raw signed requests.

The envelopes come from ``tests.support.events`` (built by hand from the contract, not by the
app's code) and are signed by the independent ``standardwebhooks`` library, so every request is
one the app must accept. The mix: profiles (created and updated), AI screenings (every
recommendation, scores across the three bands) and assessments (passed, below the pass mark,
failed without a score, several assessment types).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support import events as ev

ASSESSMENT_TYPES = ("coding", "aptitude", "personality", "language")
RECOMMENDATIONS = ("advance", "review", "reject")
KINDS = ("profile", "screening", "assessment")


def candidate_ids(count: int, run: str) -> list[str]:
    """Portal candidate ids, distinct per run (``cand_`` + 16 hex digits)."""
    return [f"cand_{uuid.uuid5(uuid.NAMESPACE_URL, f'{run}/{i}').hex[:16]}" for i in range(count)]


def created_event(cid: str) -> dict[str, Any]:
    """``candidate.created`` for a candidate the backlog then refers to."""
    return ev.profile_event(ev.candidate(cid, updated=0), kind="candidate.created")


def varied_event(i: int, cid: str | None = None) -> dict[str, Any]:
    """The ``i``-th event of the mix; a new candidate id when ``cid`` is None."""
    cid = cid or ev.uid("cand_")
    kind = KINDS[i % 3]
    minutes = 10 + i / 1000  # later than the created event: every profile update applies
    if kind == "profile":
        cand = ev.candidate(cid, updated=minutes)
        return ev.profile_event(
            cand, kind="candidate.updated" if i % 2 else "candidate.created", created=minutes
        )
    if kind == "screening":
        score = min(100.0, (i * 37) % 101 + (i % 10) / 10)
        return ev.screening_event(cid, score, RECOMMENDATIONS[(i // 3) % 3], created=minutes)
    variant = (i // 3) % 4
    assessment_type = ASSESSMENT_TYPES[(i // 3) % len(ASSESSMENT_TYPES)]
    if variant == 3:
        return ev.assessment_event(cid, failed=True, assessment_type=assessment_type, created=minutes)
    score = (45.0, 72.5, 90.0)[variant]
    return ev.assessment_event(cid, score, max_score=100, assessment_type=assessment_type, created=minutes)


def raw_request(secret: str, event: dict[str, Any], *, host: str, path: str) -> bytes:
    headers, body = ev.signed(secret, event)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def signed_requests(index: int, count: int, *, secret: str, host: str, path: str) -> list[bytes]:
    """``count`` signed webhook deliveries, each a new event id (worker ``index``'s share)."""
    offset = index * 1_000_003
    return [raw_request(secret, varied_event(offset + i), host=host, path=path) for i in range(count)]
