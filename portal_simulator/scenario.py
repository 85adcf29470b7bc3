"""A whole hiring journey per candidate, played through a running simulator's admin API:
profile, AI screening, assessment, document upload, and for some a withdrawal. The first
candidate always goes the whole way (a strong screening, a passed assessment, no withdrawal), so
that every demo has someone for the ATS to interview. The ATS's side (interview requests,
offers) is answered by the simulator on its own when the app calls the REST API;
``wait_seconds`` gives those answers time and reports them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from portal_simulator.admin_client import AdminClient, Json

Print = Callable[[str], None]


def _status(item: Json) -> str:
    delivery = item.get("delivery") or {}
    if delivery.get("status") is not None:
        return str(delivery["status"])
    attempts = delivery.get("attempts") or []
    return str(attempts[-1].get("error")) if attempts else "not sent"


def _ok(item: Json) -> bool:
    return (item.get("delivery") or {}).get("outcome") == "delivered"


class Scenario:
    """Plays candidates one after the other and prints one line per step."""

    def __init__(self, admin: AdminClient, *, rng: random.Random, out: Print, withdraw_share: float) -> None:
        self._admin = admin
        self._rng = rng
        self._out = out
        self._withdraw_share = withdraw_share
        self.failures = 0

    def _send(self, event_type: str, label: str, *, quiet: bool = False, **options: Any) -> Json:
        (item,) = self._admin.generate_events(event_type, **options)
        if not _ok(item):
            self.failures += 1
        if not quiet:
            self._step(label, item)
        return item

    def _step(self, label: str, item: Json) -> None:
        self._out(f"    {label:<44} -> {_status(item)}")

    def candidate(self, number: int) -> None:
        created = self._send("candidate.created", "", quiet=True)
        profile = created["event"]["data"]["candidate"]
        cand = str(profile["id"])
        self._out(
            f"  #{number} {cand}  {profile['first_name']} {profile['last_name']}  {profile['requisition_id']}"
        )
        self._step("profile (candidate.created)", created)
        whole_way = number == 1
        strong = whole_way or self._rng.random() < 0.6
        overrides = (
            {"score": round(self._rng.uniform(72, 97), 1), "recommendation": "advance"} if strong else None
        )
        screening = self._send("screening.completed", "AI screening", candidate=cand, overrides=overrides)
        s = screening["event"]["data"]["screening"]
        self._out(f"      score {s['score']} → {s['recommendation']}")
        failed = not whole_way and self._rng.random() < 0.2
        passing = {"score": round(self._rng.uniform(70, 95), 1), "max_score": 100} if whole_way else None
        assessment = self._send(
            "assessment.failed" if failed else "assessment.completed",
            "assessment",
            candidate=cand,
            overrides=passing,
        )
        a = assessment["event"]["data"]["assessment"]
        detail = "failed" if failed else f"{a.get('score')} / {a.get('max_score', 100)}"
        self._out(f"      {a['assessment_type']}: {detail}")
        document = self._send("document.uploaded", "document upload", candidate=cand)
        d = document["event"]["data"]["document"]
        self._out(f"      {d['kind']} {d['file_name']} ({d['size_bytes']:,} bytes)")
        if not whole_way and self._rng.random() < self._withdraw_share:
            withdrawn = self._send("candidate.withdrawn", "withdrawal", candidate=cand)
            reason = withdrawn["event"]["data"]["candidate"].get("reason", "no reason given")
            self._out(f"      withdrew: {reason}")

    def report_answers(self, wait_seconds: float) -> None:
        time.sleep(wait_seconds)
        self._admin.settle(timeout_seconds=10)
        requests, offers = self._admin.interview_requests(), self._admin.offers()
        self._out(f"  interview requests received from the ATS: {len(requests)}")
        for request in requests:
            self._out(
                f"    {request['candidate_id']} {request['request_id']} → {request['planned_answer']}"
                f" (event {request['answer_event_id'] or 'pending'})"
            )
        self._out(f"  offers received from the ATS: {len(offers)}")
        for offer in offers:
            self._out(
                f"    {offer['candidate_id']} {offer['offer_id']} → {offer['planned_answer']}"
                f" (event {offer['answer_event_id'] or 'pending'})"
            )


def play(
    admin: AdminClient,
    *,
    candidates: int,
    withdraw_share: float,
    wait_seconds: float,
    rng: random.Random,
    out: Print,
) -> int:
    """Run the scenario; returns the number of steps whose delivery failed."""
    scenario = Scenario(admin, rng=rng, out=out, withdraw_share=withdraw_share)
    for number in range(1, candidates + 1):
        scenario.candidate(number)
    out("Interview requests and offers are answered automatically when the ATS calls the REST API.")
    if wait_seconds > 0:
        scenario.report_answers(wait_seconds)
    return scenario.failures
