"""``ops events``: the webhook events as the processor recorded them, and why one failed.

Reads ``webhook_events`` (every acknowledged event ends there as processed, failed or ignored),
``rejected_deliveries`` (deliveries refused at the door with a 4xx) and ``parked_messages``;
needs ``DATABASE_URL`` only. A profile recorded without its payload because the candidate had
not given data-processing consent is shown without it, and says so.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ops.command import Area, moment, one_of, option, positive_int
from ops.context import Context
from ops.report import Block, Document, Exit, Fields, Heading, Report, Table, Text, utc

AREA = Area("events", "webhook events as the processor recorded them, and refused deliveries")

STATUSES = ("processed", "failed", "ignored")

LIST = """
SELECT event_id, event_type, status, attempts, last_error, received_at, processed_at
FROM webhook_events
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(event_type)s::text IS NULL OR event_type = %(event_type)s)
  AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s
"""

# A payload stored as {} was not kept (DESIGN.md: a profile without consent is never stored;
# a body that is not a JSON object cannot be): an envelope always has id, type and data.
EVENT = """
SELECT event_id, event_type, status, attempts, last_error, received_at, processed_at,
       payload, payload = '{}'::jsonb AS payload_withheld
FROM webhook_events WHERE event_id = %(event_id)s
"""

REJECTIONS = """
SELECT event_type, status_code, reason, errors, payload, received_at
FROM rejected_deliveries WHERE event_id = %(event_id)s
ORDER BY received_at, id
"""

# The queue messages of this event that were parked: portal-events carries the event itself,
# document-transfers names it as its source.
PARKED = """
SELECT queue, message_id, reason, attempts, parked_at
FROM parked_messages
WHERE body->>'id' = %(event_id)s OR body->>'source_event_id' = %(event_id)s
ORDER BY parked_at, id
"""

#: Why a payload is not shown: its code in --json, and the sentence people read.
WITHHELD = {
    "consent_missing": "not stored: the profile lacks data-processing consent (such a profile is never kept)",
    "not_stored": "not stored: the body could not be kept (see the reason)",
}

#: Widest a free-text column is shown in a table (--json and `show` carry it whole).
REASON_WIDTH = 70


def _event_withheld(row: dict[str, Any]) -> str | None:
    if not row["payload_withheld"]:
        return None
    return "consent_missing" if "consent" in (row["last_error"] or "").lower() else "not_stored"


def _rejection_withheld(row: dict[str, Any]) -> str | None:
    if row["payload"] is not None:
        return None
    return "consent_missing" if row["reason"] == "consent_missing" else "not_stored"


@AREA.command(
    "list",
    help="list events, newest first (e.g. --status failed --since 1d)",
    options=(
        option("--status", choices=STATUSES, help="only events in this state"),
        option("--type", dest="event_type", metavar="TYPE", help="only this type (candidate.created, ...)"),
        option("--since", type=moment, metavar="WHEN", help="received since 30m, 2h, 7d ago, or an ISO time"),
        option("--limit", type=positive_int, default=50, metavar="N", help="at most N events (default 50)"),
    ),
)
async def list_events(ctx: Context, args: argparse.Namespace) -> Report:
    """List recorded webhook events, newest first, with their status, attempts and reason.

    Start here when events fail: `--status failed` shows each failed event with the reason the
    processor recorded (field names, never values); `ops events show EVENT_ID` shows one whole.
    An empty list is an answer (exit 0)."""
    conn = await ctx.database()
    cursor = await conn.execute(
        LIST,
        {
            "status": args.status,
            "event_type": args.event_type,
            "since": args.since,
            "limit": args.limit + 1,
        },
    )
    rows = await cursor.fetchall()
    more = len(rows) > args.limit
    rows = rows[: args.limit]
    events = [
        {
            "event_id": row["event_id"],
            "type": row["event_type"],
            "status": row["status"],
            "attempts": row["attempts"],
            "last_error": row["last_error"],
            "received_at": utc(row["received_at"]),
            "processed_at": utc(row["processed_at"]),
        }
        for row in rows
    ]
    summary = f"{len(events)} event(s)" + (f"; more exist beyond --limit {args.limit}" if more else "")
    columns = ("event_id", "type", "status", "attempts", "last_error", "received_at")
    table = Table(columns, [[event[c] for c in columns] for event in events], {"last_error": REASON_WIDTH})
    return Report(
        data={"count": len(events), "more": more, "events": events},
        blocks=[table, Text(summary)] if events else [Text(summary)],
    )


@AREA.command(
    "show",
    help="one event: status, reason, attempts, times, payload; refusals and parked messages",
    options=(option("event_id", metavar="EVENT_ID", help="the portal's event id (evt_...)"),),
)
async def show_event(ctx: Context, args: argparse.Namespace) -> Report:
    """Show everything recorded about one event id.

    The processor's record (status, reason, attempts, received and processed times, payload),
    every refusal of a delivery with that id at the door (rejected_deliveries: status code,
    reason, field errors, payload), and any of its queue messages that were parked. A payload
    that was never stored (a profile without data-processing consent) is not shown, and the
    output says why. Exit 1 when the id is found nowhere: the event may still be queued, or
    dead-lettered (`ops dead-letters list portal-events`)."""
    conn = await ctx.database()
    params = {"event_id": args.event_id}
    event_row = await (await conn.execute(EVENT, params)).fetchone()
    rejection_rows = await (await conn.execute(REJECTIONS, params)).fetchall()
    parked_rows = await (await conn.execute(PARKED, params)).fetchall()

    event = _event(event_row) if event_row else None
    rejections = [_rejection(row) for row in rejection_rows]
    parked = [{**row, "parked_at": utc(row["parked_at"])} for row in parked_rows]
    data = {"event_id": args.event_id, "event": event, "rejections": rejections, "parked": parked}
    if event is None and not rejections and not parked:
        return Report(
            data=data,
            blocks=[
                Text(
                    f"no event {args.event_id} in webhook_events, rejected_deliveries or parked_messages; "
                    "it may still be queued, or dead-lettered: python -m ops dead-letters list portal-events"
                )
            ],
            exit=Exit.NOTHING,
        )
    blocks: list[Block] = []
    if event is not None:
        blocks += [Heading(f"event {args.event_id} (webhook_events)"), *_event_blocks(event)]
    if rejections:
        blocks.append(Heading(f"refused at the door {len(rejections)} time(s) (rejected_deliveries)"))
        for number, rejection in enumerate(rejections, start=1):
            blocks += _rejection_blocks(number, rejection)
    if parked:
        blocks.append(Heading("parked messages (parked_messages): resubmit with ops dead-letters resubmit"))
        columns = ("queue", "message_id", "reason", "attempts", "parked_at")
        blocks.append(Table(columns, [[p[c] for c in columns] for p in parked]))
    return Report(data=data, blocks=blocks)


def _payload_blocks(label_value: list[tuple[str, object]], record: dict[str, Any]) -> list[Block]:
    """The record's fields, then its payload, or the reason it is not shown."""
    withheld = record["payload_withheld"]
    fields = Fields([*label_value, ("payload", WITHHELD[withheld] if withheld else "below")])
    return [fields] if withheld else [fields, Document(record["payload"])]


def _event(row: dict[str, Any]) -> dict[str, Any]:
    withheld = _event_withheld(row)
    return {
        "event_id": row["event_id"],
        "type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "reason": row["last_error"],
        "received_at": utc(row["received_at"]),
        "processed_at": utc(row["processed_at"]),
        "payload": None if withheld else row["payload"],
        "payload_withheld": withheld,
    }


def _event_blocks(event: dict[str, Any]) -> list[Block]:
    keys = ("type", "status", "reason", "attempts", "received_at", "processed_at")
    return _payload_blocks([(key, event[key]) for key in keys], event)


def _rejection(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": row["event_type"],
        "status_code": row["status_code"],
        "reason": row["reason"],
        "errors": row["errors"],
        "received_at": utc(row["received_at"]),
        "payload": row["payload"],
        "payload_withheld": _rejection_withheld(row),
    }


def _rejection_blocks(number: int, rejection: dict[str, Any]) -> list[Block]:
    errors = [f"{error.get('field')}: {error.get('message')}" for error in rejection["errors"]]
    pairs: list[tuple[str, object]] = [
        ("refusal", number),
        ("status_code", rejection["status_code"]),
        ("reason", rejection["reason"]),
        ("received_at", rejection["received_at"]),
        *(("error", error) for error in errors),
    ]
    return _payload_blocks(pairs, rejection)


# --------------------------------------------------------------------------- replay


@AREA.command(
    "replay",
    help="put failed events back on portal-events to be applied again (EVENT_ID or --failed)",
    changes_data=True,
    options=(
        one_of(
            option("event_id", nargs="?", metavar="EVENT_ID", help="one failed event (evt_...)"),
            option("--failed", action="store_true", help="every failed event (narrow with --type, --since)"),
        ),
        option("--type", dest="event_type", metavar="TYPE", help="with --failed: only this type"),
        option(
            "--since",
            type=moment,
            metavar="WHEN",
            help="with --failed: failed since 30m, 2h, 7d ago, or an ISO time",
        ),
        option(
            "--limit", type=positive_int, default=10_000, metavar="N", help="at most N events (default 10000)"
        ),
    ),
)
async def replay_events(ctx: Context, args: argparse.Namespace) -> Report:
    """Re-queue failed events once their cause is fixed (a corrected rule or validator, a
    candidate the portal now knows, a bug fixed and deployed).

    Each goes back on portal-events as stored, under {event_id}:replay{n} with the property
    `replay`: the processor then applies it again in place of its failed record (a plain re-send
    would be dropped by the three idempotency layers). If it fails again it is recorded failed
    with the new reason. Only failed events are replayed, and only those whose payload was
    stored. Each replay is audited (audit_log, action events.replay). Try --dry-run first.
    Exit 1 when nothing matched."""
    from shared.errors import ConfigurationError
    from shared.recovery import audit, replay

    if args.event_id is None and (args.event_type or args.since) and not args.failed:
        raise ConfigurationError("--type and --since go with --failed, not with one EVENT_ID")
    conn = await ctx.database()
    planned, rows = await replay.plan(
        conn, event_id=args.event_id, event_type=args.event_type, since=args.since, limit=args.limit
    )
    if args.event_id is not None and not planned:
        status = await replay.status_of(conn, args.event_id)
        reason = (
            f"no event {args.event_id} in webhook_events (it may still be queued)"
            if status is None
            else f"event {args.event_id} is {status}: only failed events are replayed"
        )
        return Report({"dry_run": ctx.dry_run, "replayed": [], "skipped": []}, [Text(reason)], Exit.NOTHING)
    sendable = [r for r in planned if r.message_id is not None]
    skipped = [r for r in planned if r.message_id is None]
    sent = sendable
    if not ctx.dry_run and sendable:
        sender = await ctx.sender()
        sent = await replay.replay(conn, sender, planned, rows, now=datetime.now(UTC), actor=audit.operator())
    data = {
        "dry_run": ctx.dry_run,
        "replayed": [r.as_dict() for r in sent],
        "skipped": [r.as_dict() for r in skipped],
    }
    if not sent:
        text = "nothing to replay" + (
            f": {len(skipped)} failed event(s) without a stored payload" if skipped else ""
        )
        return Report(data, [Text(text), *_replay_tables([], skipped)], Exit.NOTHING)
    verb = "would replay" if ctx.dry_run else "replayed"
    note = " (dry run: nothing sent)" if ctx.dry_run else "; the processor applies them in a moment"
    return Report(data, [Text(f"{verb} {len(sent)} failed event(s){note}"), *_replay_tables(sent, skipped)])


def _replay_tables(sent: list[Any], skipped: list[Any]) -> list[Block]:
    blocks: list[Block] = []
    if sent:
        columns = ("event_id", "type", "failed_at", "reason", "new_message_id")
        rows = [[r.event_id, r.event_type, r.failed_at, r.reason, r.message_id] for r in sent]
        blocks.append(Table(columns, rows, {"reason": REASON_WIDTH}))
    if skipped:
        blocks.append(Heading("skipped"))
        blocks.append(
            Table(("event_id", "type", "why"), [[r.event_id, r.event_type, r.skipped] for r in skipped])
        )
    return blocks
