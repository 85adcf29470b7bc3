"""`make demo`, the ATS's half (flows 2 and 4): what a recruiter does after the portal's events.

Once the portal's events are applied, it requests an interview for every candidate who reached
``interview`` (and has none yet), waits for the portal's answers (``interview.scheduled`` or
``interview.declined``, through the app's webhook), sends an offer to every candidate whose
interview was scheduled, waits for those answers too, and says who was hired. Commands go on
``ats-outbound`` exactly as ``python -m scripts.ats_command`` sends them; everything else is read
from the app's database (``DATABASE_URL``, from the environment or ``local.settings.json``).
Exit status 1 when an answer does not come within ``--wait`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from scripts.ats_command import interview_request, load_settings, offer, send_commands
from scripts.demo_report import wait_for_drain

#: Statuses after which nothing more is awaited.
INTERVIEW_ANSWERED = ("scheduled", "declined", "cancelled", "failed")
OFFER_ANSWERED = ("accepted", "declined", "failed")

Conn = psycopg.Connection[dict[str, Any]]


def wait_for_answers(
    conn: Conn, table: str, ids: list[str], answered: Sequence[str], seconds: float
) -> dict[str, str]:
    """Poll ``table`` until every row of ``ids`` has an answered status; id -> status."""
    deadline = time.monotonic() + seconds
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        rows = conn.execute(f"SELECT id::text AS id, status FROM {table} WHERE id = ANY(%s::uuid[])", (ids,))  # noqa: S608 (a fixed table name)
        statuses = {row["id"]: row["status"] for row in rows}
        if len(statuses) == len(ids) and all(s in answered for s in statuses.values()):
            break
        time.sleep(0.5)
    return statuses


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo_ats", description=__doc__.split("\n")[0])
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for each round of answers")
    args = parser.parse_args(argv)
    settings = load_settings()
    if not settings.get("DATABASE_URL"):
        print("error: DATABASE_URL is not set (environment or local.settings.json)")
        return 1
    with psycopg.connect(settings["DATABASE_URL"], row_factory=dict_row, autocommit=True) as conn:
        wait_for_drain(conn)
        ready = conn.execute(
            "SELECT c.id::text AS id, c.portal_candidate_id, c.first_name FROM candidates c "
            "WHERE c.stage = 'interview' "
            "AND NOT EXISTS (SELECT 1 FROM interviews i WHERE i.candidate_id = c.id) "
            "ORDER BY c.created_at"
        ).fetchall()
        print(f"\nThe ATS's side: {len(ready)} candidate(s) reached the interview stage.")
        if not ready:
            return 0
        requests = {row["id"]: interview_request(row["id"]) for row in ready}
        asyncio.run(send_commands(list(requests.values()), settings))
        names = {row["id"]: f"{row['portal_candidate_id']} {row['first_name']}" for row in ready}
        for cand, command in requests.items():
            print(f"  interview requested for {names[cand]}: command {command['command_id']}")
        request_ids = {command["data"]["request_id"]: cand for cand, command in requests.items()}
        interviews = wait_for_answers(conn, "interviews", list(request_ids), INTERVIEW_ANSWERED, args.wait)
        for request_id, cand in request_ids.items():
            print(f"    {names[cand]}: interview {interviews.get(request_id, 'not answered yet')}")
        scheduled = [
            cand for request_id, cand in request_ids.items() if interviews.get(request_id) == "scheduled"
        ]
        offers = {cand: offer(cand) for cand in scheduled}
        if offers:
            asyncio.run(send_commands(list(offers.values()), settings))
        for cand, command in offers.items():
            print(f"  offer sent to {names[cand]}: command {command['command_id']}")
        offer_ids = {command["data"]["offer_id"]: cand for cand, command in offers.items()}
        answers = (
            wait_for_answers(conn, "offers", list(offer_ids), OFFER_ANSWERED, args.wait) if offers else {}
        )
        for offer_id, cand in offer_ids.items():
            print(f"    {names[cand]}: offer {answers.get(offer_id, 'not answered yet')}")
        hired = [names[cand] for offer_id, cand in offer_ids.items() if answers.get(offer_id) == "accepted"]
        print(f"  hired: {', '.join(hired) if hired else 'nobody this time'}")
    unanswered = len(request_ids) - sum(1 for s in interviews.values() if s in INTERVIEW_ANSWERED)
    unanswered += len(offer_ids) - sum(1 for s in answers.values() if s in OFFER_ANSWERED)
    if unanswered:
        print(
            f"  {unanswered} answer(s) did not come within {args.wait:.0f} s: see `python -m ops sync list`"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
