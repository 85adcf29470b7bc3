"""``python -m scripts.ats_command``: drop an ATS command on ``ats-outbound``, as the ATS would.

    python -m scripts.ats_command interview-request CANDIDATE [--slots 2] [--duration 45]
    python -m scripts.ats_command offer CANDIDATE [--title T] [--salary 85000.00] [--currency GBP]
    python -m scripts.ats_command status CANDIDATE STAGE [--message TEXT]
    python -m scripts.ats_command raw FILE|-          # a whole command as JSON

``CANDIDATE`` is the ATS's candidate id (a UUID). Locally a portal id (``cand_...``) also
works: it is looked up in ``DATABASE_URL``. The command id is printed (alone on stdout), and is
the ``sync_queue.command_id`` to look for (``python -m ops sync list``).

Settings come from the environment, then ``local.settings.json`` (as devhost reads them):
``ServiceBusConnection`` names the queues, as it does for the app. A development tool: never
deployed, and not used by the app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from shared.errors import IntegrationError
from shared.local_settings import load_local_settings
from shared.messaging import ATS_OUTBOUND, OutboundMessage, create_message_sender

ROOT = Path(__file__).resolve().parent.parent


def interview_request(
    candidate_id: str,
    *,
    slots: int = 2,
    duration: int = 45,
    timezone: str = "Europe/London",
    start: datetime | None = None,
) -> dict[str, Any]:
    """An ``interview.request``: ``slots`` proposed slots on the next working days at 10:00 UTC."""
    first = (start or datetime.now(UTC)).replace(hour=10, minute=0, second=0, microsecond=0)
    days = [first + timedelta(days=n) for n in range(1, 15) if (first + timedelta(days=n)).weekday() < 5]
    return _command(
        "interview.request",
        candidate_id,
        {
            "request_id": str(uuid.uuid4()),
            "duration_minutes": duration,
            "proposed_slots": [
                {"start": _z(day), "end": _z(day + timedelta(minutes=duration))} for day in days[:slots]
            ],
            "timezone": timezone,
        },
    )


def offer(
    candidate_id: str,
    *,
    title: str = "Data Analyst",
    salary: str = "85000.00",
    currency: str = "GBP",
    today: date | None = None,
) -> dict[str, Any]:
    """An ``offer.send`` starting in six weeks, open for two."""
    today = today or datetime.now(UTC).date()
    expires = datetime.combine(today + timedelta(days=14), datetime.min.time(), UTC).replace(hour=17)
    return _command(
        "offer.send",
        candidate_id,
        {
            "offer_id": str(uuid.uuid4()),
            "title": title,
            "salary": {"amount": salary, "currency": currency},
            "start_date": (today + timedelta(weeks=6)).isoformat(),
            "expires_at": _z(expires),
        },
    )


def status(candidate_id: str, stage: str, message: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"stage": stage}
    if message:
        data["message"] = message
    return _command("candidate.status", candidate_id, data)


def _command(kind: str, candidate_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"command_id": str(uuid.uuid4()), "type": kind, "candidate_id": candidate_id, "data": data}


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def send_commands(commands: Sequence[Mapping[str, Any]], settings: Mapping[str, str]) -> None:
    """Send each command to ``ats-outbound`` with ``message_id`` = its command id, confirmed."""
    sender = await create_message_sender(settings)
    try:
        messages = [
            OutboundMessage(body=json.dumps(c).encode(), message_id=str(c.get("command_id") or uuid.uuid4()))
            for c in commands
        ]
        await sender.send(ATS_OUTBOUND, messages)
    finally:
        await sender.close()


def load_settings(settings_file: Path | None = None) -> dict[str, str]:
    """The environment over ``local.settings.json`` (empty values unset on both sides)."""
    environ = dict(os.environ)
    load_local_settings(settings_file or ROOT / "local.settings.json", environ)
    return environ


def resolve_candidate(text: str, settings: Mapping[str, str]) -> str:
    """The ATS id of ``text``: a UUID as it is, a ``cand_`` id looked up in DATABASE_URL."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not text.startswith("cand_"):
        raise SystemExit(f"error: {text!r} is neither an ATS candidate id (UUID) nor a portal id (cand_...)")
    url = settings.get("DATABASE_URL")
    if not url:
        raise SystemExit("error: DATABASE_URL is not set: cannot look up a portal candidate id")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM candidates WHERE portal_candidate_id = %s", (text,)).fetchone()
    if row is None:
        raise SystemExit(f"error: the ATS holds no candidate {text}")
    return str(row[0])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.ats_command",
        description="Drop an ATS command on ats-outbound, as the ATS would; prints the command id.",
    )
    parser.add_argument("--settings-file", type=Path, help="default: local.settings.json")
    commands = parser.add_subparsers(dest="kind", required=True, metavar="COMMAND")
    request = commands.add_parser("interview-request", help="ask the portal to schedule an interview")
    request.add_argument("candidate", help="ATS candidate id (UUID) or portal id (cand_...)")
    request.add_argument("--slots", type=int, default=2, help="proposed slots (default 2)")
    request.add_argument("--duration", type=int, default=45, help="minutes (default 45)")
    request.add_argument("--timezone", default="Europe/London")
    sent = commands.add_parser("offer", help="send an offer")
    sent.add_argument("candidate", help="ATS candidate id (UUID) or portal id (cand_...)")
    sent.add_argument("--title", default="Data Analyst")
    sent.add_argument("--salary", default="85000.00", help="decimal amount as text")
    sent.add_argument("--currency", default="GBP")
    stage = commands.add_parser(
        "status", help="set the candidate's stage (locally at once, then on the portal)"
    )
    stage.add_argument("candidate", help="ATS candidate id (UUID) or portal id (cand_...)")
    stage.add_argument(
        "stage", help="new, screening, assessment, interview, offer, hired, rejected, withdrawn"
    )
    stage.add_argument("--message", help="a message the portal shows the candidate")
    raw = commands.add_parser("raw", help="send a whole command, as JSON, as it is (to try invalid ones)")
    raw.add_argument("file", help="JSON file, or - for standard input")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.settings_file)
        command: dict[str, Any]
        if args.kind == "raw":
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
            command = json.loads(text)
        else:
            candidate = resolve_candidate(args.candidate, settings)
            if args.kind == "interview-request":
                command = interview_request(
                    candidate, slots=args.slots, duration=args.duration, timezone=args.timezone
                )
            elif args.kind == "offer":
                command = offer(candidate, title=args.title, salary=args.salary, currency=args.currency)
            else:
                command = status(candidate, args.stage, args.message)
        asyncio.run(send_commands([command], settings))
    except (IntegrationError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(command.get("command_id"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
