"""``ops sync``: the ATS's commands to the portal (``sync_queue``): list, show, retry.

Every ATS command on ``ats-outbound`` is one ``sync_queue`` row, found by its command id (what
``python -m scripts.ats_command`` prints, and what the portal received as ``Idempotency-Key``).
A row ends ``completed`` (the portal took it, or a newer status change superseded it) or
``failed`` (the portal refused it, six attempts failed, or the command could never be valid);
``pending`` rows wait for their next attempt, ``processing`` ones are being sent. Needs
``DATABASE_URL`` only. What each state means, and when to retry: docs/operations.md.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

from ops.command import Area, moment, option, positive_int
from ops.context import Context
from ops.report import Block, Document, Exit, Fields, Heading, Report, Table, Text, utc
from shared.errors import ConfigurationError
from shared.outbound import recovery
from shared.outbound.commands import CommandType

AREA = Area("sync", "the ATS's commands to the portal (sync_queue): list, show, retry")

#: Widest a free-text column is shown in a table (--json and `show` carry it whole).
REASON_WIDTH = 70

LIST_COLUMNS = ("command_id", "type", "entity_id", "status", "attempts", "http", "last_error", "updated_at")


def command_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a command id (a UUID)") from None


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "command_id": str(row["command_id"]),
        "type": row["operation_type"],
        "entity_id": row["entity_id"],
        "candidate_id": None if row["candidate_id"] is None else str(row["candidate_id"]),
        "status": row["status"],
        "attempts": row["retry_count"],
        "http": row["http_status"],
        "last_error": row["last_error"],
        "next_retry": utc(row["next_retry"]) if row["status"] == "pending" else None,
        "lease_until": utc(row["lease_until"]),
        "last_attempt": utc(row["last_attempt"]),
        "first_attempt": utc(row["first_attempt_at"]),
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "completed_at": utc(row["completed_at"]),
        "superseded_by": row["superseded_by"],
    }


@AREA.command(
    "list",
    help="list commands, newest first (e.g. --status failed)",
    options=(
        option("--status", choices=recovery.STATUSES, help="only rows in this state"),
        option(
            "--type",
            dest="operation",
            choices=[t.value for t in CommandType],
            help="only this command type",
        ),
        option("--candidate", type=command_id, metavar="UUID", help="only this ATS candidate's commands"),
        option("--since", type=moment, metavar="WHEN", help="changed since 30m, 2h, 7d ago, or an ISO time"),
        option("--limit", type=positive_int, default=50, metavar="N", help="at most N rows (default 50)"),
    ),
)
async def list_commands(ctx: Context, args: argparse.Namespace) -> Report:
    """List ATS commands (sync_queue rows), newest first: type, entity, status, failed attempts,
    the portal's last status and the reason.

    `--status failed` is where to start when the ATS says the portal never got something:
    each failed row says why (the portal's status and the fields it named, or why the command
    could never be valid). `--status pending` shows what waits, and until when (--json:
    next_retry). An empty list is an answer (exit 0)."""
    conn = await ctx.database()
    rows = await recovery.list_rows(
        conn,
        status=args.status,
        operation=args.operation,
        candidate_id=args.candidate,
        since=args.since,
        limit=args.limit + 1,
    )
    more = len(rows) > args.limit
    commands = [_row(row) for row in rows[: args.limit]]
    summary = f"{len(commands)} command(s)" + (f"; more exist beyond --limit {args.limit}" if more else "")
    table = Table(
        LIST_COLUMNS, [[c[k] for k in LIST_COLUMNS] for c in commands], {"last_error": REASON_WIDTH}
    )
    return Report(
        data={"count": len(commands), "more": more, "commands": commands},
        blocks=[table, Text(summary)] if commands else [Text(summary)],
    )


@AREA.command(
    "show",
    help="one command: its row, the command as the ATS sent it, its interview or offer, its portal calls",
    options=(option("command_id", type=command_id, metavar="COMMAND_ID", help="the ATS command id"),),
)
async def show_command(ctx: Context, args: argparse.Namespace) -> Report:
    """Show one command: its sync_queue row (status, attempts, times, reason), the command as the
    ATS sent it, the interview or offer it is about, and every call made to the portal about
    that entity (portal_activity_log). Exit 1 when no row has that command id: the message may
    still be on ats-outbound, or parked (`ops dead-letters list ats-outbound`)."""
    conn = await ctx.database()
    rows = await recovery.rows_by_command(conn, [args.command_id])
    if not rows:
        return Report(
            data={"command_id": str(args.command_id), "command": None, "entity": None, "calls": []},
            blocks=[
                Text(
                    f"no command {args.command_id} in sync_queue; it may still be on ats-outbound, or "
                    "parked: python -m ops dead-letters list ats-outbound"
                )
            ],
            exit=Exit.NOTHING,
        )
    row = rows[0]
    payload = row["payload"] or {}
    entity_ids = [
        row["entity_id"],
        *([payload["portal_candidate_id"]] if "portal_candidate_id" in payload else []),
    ]
    entity = await recovery.entity(conn, row["entity_id"])
    calls = [
        {**call, "created_at": utc(call["created_at"])} for call in await recovery.activity(conn, entity_ids)
    ]
    command = _row(row)
    data = {
        "command_id": str(args.command_id),
        "command": command,
        "document": payload.get("command"),
        "entity": entity,
        "calls": calls,
    }
    keys = (
        "type",
        "status",
        "attempts",
        "http",
        "last_error",
        "entity_id",
        "candidate_id",
        "next_retry",
        "first_attempt",
        "last_attempt",
        "created_at",
        "completed_at",
        "superseded_by",
    )
    blocks: list[Block] = [
        Heading(f"command {args.command_id} (sync_queue)"),
        Fields([(key, command[key]) for key in keys]),
    ]
    if entity is not None:
        blocks += [
            Heading(f"its {entity['kind']}"),
            Fields([("status", entity["status"]), ("portal id", entity["portal_id"])]),
        ]
    blocks.append(Heading(f"portal calls about {', '.join(entity_ids)}: {len(calls)}"))
    if calls:
        columns = ("created_at", "operation", "outcome", "http_status", "duration_ms", "error")
        blocks.append(Table(columns, [[c[k] for k in columns] for c in calls], {"error": REASON_WIDTH}))
    if data["document"] is not None:
        blocks += [Heading("the command as the ATS sent it"), Document(data["document"])]
    return Report(data=data, blocks=blocks)


@AREA.command(
    "retry",
    help="put failed commands back to pending with a fresh attempt budget (COMMAND_ID or --all-failed)",
    changes_data=True,
    options=(
        option("command_ids", type=command_id, nargs="*", metavar="COMMAND_ID", help="these commands"),
        option("--all-failed", action="store_true", help="every failed command (narrow it with --since)"),
        option(
            "--since",
            type=moment,
            metavar="WHEN",
            help="with --all-failed: failed since 30m, 2h, 7d ago, or an ISO time",
        ),
        option("--force", action="store_true", help="also commands first attempted more than 24 h ago"),
    ),
)
async def retry_commands(ctx: Context, args: argparse.Namespace) -> Report:
    """Put failed commands back to pending, with a fresh budget of six attempts, due now, and
    their interview or offer back to requested/sending; the replay timer sends them within a
    second.

    The same command id is sent again as Idempotency-Key: the portal does not remember error
    answers, and if an earlier attempt succeeded after all it replays that success instead of
    acting twice. It remembers a success for 24 h only, so a command first attempted longer ago
    is left unless --force (check on the portal that it has no such interview request or offer
    first). A command refused at intake (never sent) cannot be retried: the ATS must send a
    corrected one. Use it once the cause is fixed (the portal is back, a candidate now exists on
    the portal); --dry-run first lists what would be retried and what is left, and why. Exit 1
    when nothing was retried."""
    if bool(args.command_ids) == args.all_failed:
        raise _usage("name COMMAND_IDs, or use --all-failed (not both)")
    if args.since is not None and not args.all_failed:
        raise _usage("--since goes with --all-failed")
    conn = await ctx.database()
    now = datetime.now(UTC)
    if args.all_failed:
        rows = await recovery.failed_since(conn, args.since)
    else:
        rows = await recovery.rows_by_command(conn, args.command_ids)
    found = {row["command_id"] for row in rows}
    plan = recovery.plan_retry(rows, now=now, force=args.force)
    skipped = [{"command_id": str(s.command_id), "reason": s.reason} for s in plan.skipped]
    skipped += [
        {"command_id": str(cid), "reason": "no such command in sync_queue"}
        for cid in args.command_ids
        if cid not in found
    ]
    retried_ids = set() if ctx.dry_run else await recovery.retry(conn, plan.retry, now=now)
    retried = [_row(row) for row in plan.retry if ctx.dry_run or row["id"] in retried_ids]
    skipped += [
        {"command_id": str(row["command_id"]), "reason": "no longer failed when the retry ran"}
        for row in plan.retry
        if not ctx.dry_run and row["id"] not in retried_ids
    ]
    data = {"dry_run": ctx.dry_run, "retried": retried, "skipped": skipped}
    verb = "would retry" if ctx.dry_run else "retried"
    blocks: list[Block] = [
        Text(f"{verb} {len(retried)} command(s)" + (" (dry run: nothing changed)" if ctx.dry_run else ""))
    ]
    if retried:
        columns = ("command_id", "type", "entity_id", "attempts", "last_error")
        blocks.append(
            Table(columns, [[r[c] for c in columns] for r in retried], {"last_error": REASON_WIDTH})
        )
    if skipped:
        blocks += [
            Heading(f"left as they are: {len(skipped)}"),
            Table(("command_id", "reason"), [[s["command_id"], s["reason"]] for s in skipped]),
        ]
    return Report(data=data, blocks=blocks, exit=Exit.OK if retried else Exit.NOTHING)


def _usage(message: str) -> ConfigurationError:
    """A usage error found after parsing (exit 2, as argparse's own)."""
    return ConfigurationError(f"ops sync retry: {message}")
