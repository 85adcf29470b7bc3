"""`make demo`, second half: what the ATS made of the scenario, candidate by candidate.

Reads the app's database (``DATABASE_URL`` from the environment or ``local.settings.json``),
waits until the queue is drained and every document verified or rejected, and prints each
candidate's stage, review flag, AI screening band, assessments, documents, interviews and
offers, then the ATS commands (``sync_queue``) by status and who was hired. Local demo data
only: never point this at a database with real candidates.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    if url := os.environ.get("DATABASE_URL", "").strip():
        return url
    values = json.loads((ROOT / "local.settings.json").read_text()).get("Values", {})
    return str(values["DATABASE_URL"])


def _count(conn: psycopg.Connection[dict[str, object]], sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row["n"]) if row else 0  # type: ignore[call-overload]


def wait_for_drain(conn: psycopg.Connection[dict[str, object]], seconds: float = 20) -> None:
    deadline, last = time.monotonic() + seconds, -1
    while time.monotonic() < deadline:
        pending = _count(conn, "SELECT count(*) AS n FROM devhost.messages WHERE queue = 'portal-events'")
        count = _count(conn, "SELECT count(*) AS n FROM webhook_events")
        if pending == 0 and count == last:
            return
        last = count
        time.sleep(1)


def wait_for_documents(conn: psycopg.Connection[dict[str, object]], seconds: float = 60) -> None:
    """Until no document is pending or transferred (being fetched or verified)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _count(
            conn, "SELECT count(*) AS n FROM candidate_documents WHERE status IN ('pending', 'transferred')"
        ):
            return
        time.sleep(0.5)


_STATUS_COUNTS = {
    table: f"SELECT status, count(*) AS n FROM {table} GROUP BY 1 ORDER BY 1"  # noqa: S608 (fixed names)
    for table in ("sync_queue", "interviews", "offers")
}


def _counts(conn: psycopg.Connection[dict[str, object]], table: str) -> str:
    rows = conn.execute(_STATUS_COUNTS[table]).fetchall()
    return ", ".join(f"{r['n']} {r['status']}" for r in rows) or "none"


def main() -> int:
    with psycopg.connect(database_url(), row_factory=dict_row, autocommit=True) as conn:
        wait_for_drain(conn)
        wait_for_documents(conn)
        candidates = conn.execute(
            "SELECT id, portal_candidate_id, first_name, stage, needs_review "
            "FROM candidates ORDER BY created_at"
        ).fetchall()
        print(f"\nWhat the ATS holds ({len(candidates)} candidates):")
        for cand in candidates:
            flag = "  needs review" if cand["needs_review"] else ""
            print(
                f"  {cand['portal_candidate_id']}  {cand['first_name']:<12} stage={cand['stage']:<10}{flag}"
            )
            for a in conn.execute(
                "SELECT assessment_type, status, score, max_score, band, recommendation, passed "
                "FROM portal_assessments WHERE candidate_id = %s ORDER BY created_at",
                (cand["id"],),
            ):
                if a["assessment_type"] == "ai_screening":
                    print(
                        f"      AI screening {a['score']} -> band {a['band']}, "
                        f"portal says {a['recommendation']}"
                    )
                else:
                    result = a["status"] if a["score"] is None else f"{a['score']}/{a['max_score']}"
                    print(f"      {a['assessment_type']} {result} passed={a['passed']}")
            for d in conn.execute(
                "SELECT kind, content_type, size_bytes, status, blob_path, "
                "coalesce(rejection_reason, last_error) AS reason "
                "FROM candidate_documents WHERE candidate_id = %s",
                (cand["id"],),
            ):
                where = f" -> blob {d['blob_path']}" if d["blob_path"] else ""
                why = f" ({d['reason']})" if d["reason"] and d["status"] != "verified" else ""
                print(
                    f"      document {d['kind']} {d['content_type']} ({d['size_bytes']:,} bytes) "
                    f"{d['status']}{why}{where}"
                )
            for i in conn.execute(
                "SELECT status, scheduled_start FROM interviews WHERE candidate_id = %s ORDER BY created_at",
                (cand["id"],),
            ):
                when = f" for {i['scheduled_start']:%Y-%m-%d %H:%M %Z}" if i["scheduled_start"] else ""
                print(f"      interview {i['status']}{when}")
            for o in conn.execute(
                "SELECT status, details->'ats'->>'title' AS title FROM offers WHERE candidate_id = %s "
                "ORDER BY created_at",
                (cand["id"],),
            ):
                print(f"      offer {o['status']} ({o['title'] or 'title not known'})")
        summary = conn.execute(
            "SELECT status, count(*) AS n FROM webhook_events GROUP BY 1 ORDER BY 1"
        ).fetchall()
        documents = conn.execute(
            "SELECT status, count(*) AS n FROM candidate_documents GROUP BY 1 ORDER BY 1"
        ).fetchall()
        rejected = conn.execute("SELECT count(*) AS n FROM rejected_deliveries").fetchone()
        print(
            "\nEvents: "
            + ", ".join(f"{r['n']} {r['status']}" for r in summary)
            + f"; {rejected['n'] if rejected else 0} deliveries rejected"
        )
        print("Documents: " + (", ".join(f"{r['n']} {r['status']}" for r in documents) or "none"))
        for label, table in (
            ("ATS commands", "sync_queue"),
            ("Interviews", "interviews"),
            ("Offers", "offers"),
        ):
            print(f"{label}: {_counts(conn, table)}")
        hired = conn.execute(
            "SELECT portal_candidate_id FROM candidates WHERE stage = 'hired' ORDER BY portal_candidate_id"
        ).fetchall()
        print("Hired: " + (", ".join(str(h["portal_candidate_id"]) for h in hired) or "nobody"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
