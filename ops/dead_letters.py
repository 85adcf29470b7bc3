"""``ops dead-letters``: what a queue could not handle, and putting it back once the cause is fixed.

Two places hold such messages, and every command covers both (``--source`` narrows it):

* the queue's **dead letters** (a handler kept raising: a bug), on the transport
  ``ServiceBusConnection`` names: Service Bus's ``QUEUE/$deadletterqueue`` in Azure, devhost's
  PostgreSQL tables locally (:mod:`shared.messaging.dead_letters`);
* **parked messages** (a dependency stayed unreachable for 24 h), rows of ``parked_messages``
  in ``DATABASE_URL`` (:mod:`shared.parked`).

A resubmitted message gets a new id (``{original}:resubmit{n}``) and leaves its retry counters
behind (:mod:`shared.messaging.resubmission`); each is sent, confirmed, before its dead letter
or parked row is removed, so nothing is lost, and a crash in between leaves a copy that the
queue's duplicate detection or the processor's idempotency absorbs.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from ops.command import Area, one_of, option, positive_int
from ops.context import Context
from ops.report import Block, Exit, Heading, Report, Table, Text, utc
from shared.errors import IntegrationError
from shared.messaging.dead_letters import DeadLetter
from shared.messaging.port import QUEUES
from shared.messaging.resubmission import Resubmitted, Source, resubmit_id
from shared.parked import ParkedMessage, list_parked, resubmit_parked

AREA = Area("dead-letters", "the queues' dead letters and parked messages: list them, put them back")

#: ``--source``: where to look.
SOURCES = {"all": ("dead-letters", "parked"), "dead-letters": ("dead-letters",), "parked": ("parked",)}

#: The most messages a dry run looks at per source (a real run takes every match).
DRY_RUN_SCAN = 10_000

#: Widest a free-text column is shown in a table (--json carries it whole).
TEXT_WIDTH = 60

_QUEUE = option("queue", choices=QUEUES, metavar="QUEUE", help=f"one of: {', '.join(QUEUES)}")
_SOURCE = option(
    "--source",
    choices=tuple(SOURCES),
    default="all",
    help="dead-letters (the queue's dead-letter queue), parked (parked_messages), or all (default)",
)


@AREA.command(
    "list",
    help="list a queue's dead letters and parked messages",
    options=(
        _QUEUE,
        _SOURCE,
        option("--limit", type=positive_int, default=100, metavar="N", help="at most N of each source"),
    ),
)
async def list_messages(ctx: Context, args: argparse.Namespace) -> Report:
    """List what QUEUE could not handle: its dead letters (a handler kept raising: find the bug
    in the reason and the logs) and its parked messages (a dependency was unreachable for 24 h).

    Nothing is locked or changed (dead letters are peeked). Bodies are not printed; their size
    is. Needs ServiceBusConnection for dead letters and DATABASE_URL for parked messages."""
    sources = SOURCES[args.source]
    dead: list[DeadLetter] | None = None
    parked: list[ParkedMessage] | None = None
    if "dead-letters" in sources:
        dead = await (await ctx.dead_letter_queues()).peek(args.queue, limit=args.limit + 1)
    if "parked" in sources:
        parked = await list_parked(await ctx.database(), args.queue, limit=args.limit + 1)

    data: dict[str, Any] = {"queue": args.queue}
    blocks: list[Block] = []
    if dead is not None:
        letters = [_dead_letter(letter) for letter in dead[: args.limit]]
        data |= {"dead_letters": letters, "dead_letters_more": len(dead) > args.limit}
        blocks += _section(f"dead letters of {args.queue}", letters, len(dead) > args.limit, DEAD_COLUMNS)
    else:
        data |= {"dead_letters": None, "dead_letters_more": None}
    if parked is not None:
        rows = [_parked(message) for message in parked[: args.limit]]
        data |= {"parked": rows, "parked_more": len(parked) > args.limit}
        blocks += _section(f"parked messages of {args.queue}", rows, len(parked) > args.limit, PARKED_COLUMNS)
    else:
        data |= {"parked": None, "parked_more": None}
    return Report(data=data, blocks=blocks)


DEAD_COLUMNS = (
    "sequence_number",
    "message_id",
    "reason",
    "description",
    "delivery_count",
    "dead_lettered_at",
)
PARKED_COLUMNS = ("id", "message_id", "reason", "attempts", "parked_at")


def _dead_letter(letter: DeadLetter) -> dict[str, Any]:
    return {
        "sequence_number": letter.sequence_number,
        "message_id": letter.message_id,
        "reason": letter.reason,
        "description": letter.description,
        "delivery_count": letter.delivery_count,
        "enqueued_at": utc(letter.enqueued_time),
        "dead_lettered_at": utc(letter.dead_lettered_at),
        "body_bytes": len(letter.body),
    }


def _parked(message: ParkedMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "message_id": message.message_id,
        "reason": message.reason,
        "attempts": message.attempts,
        "parked_at": utc(message.parked_at),
        "body_bytes": len(message.body),
    }


def _section(title: str, rows: list[dict[str, Any]], more: bool, columns: tuple[str, ...]) -> list[Block]:
    count = f"{len(rows)}" + (" (more beyond --limit)" if more else "")
    blocks: list[Block] = [Heading(f"{title}: {count}")]
    if rows:
        widths = {"reason": TEXT_WIDTH, "description": TEXT_WIDTH}
        blocks.append(Table(columns, [[row[c] for c in columns] for row in rows], widths))
    return blocks


@AREA.command(
    "resubmit",
    help="put dead letters and parked messages back on their queue (--message-id ID or --all)",
    changes_data=True,
    options=(
        _QUEUE,
        one_of(
            option(
                "--message-id",
                dest="message_ids",
                action="append",
                metavar="ID",
                help="the message with this id (repeatable)",
            ),
            option("--all", action="store_true", help="every dead letter and parked message of QUEUE"),
        ),
        _SOURCE,
    ),
)
async def resubmit(ctx: Context, args: argparse.Namespace) -> Report:
    """Put QUEUE's dead letters and parked messages back on QUEUE, once their cause is fixed.

    Each goes back with its body and application properties, minus the retry counters (it
    starts a fresh backoff), under a new id {original}:resubmit{n} that duplicate detection
    will not drop; it is sent, confirmed, before its dead letter or parked row is removed. A
    crash in between leaves both (nothing is lost); the copy is then absorbed by duplicate
    detection or the processor's idempotency. Try --dry-run first: it lists what would be
    resubmitted under which new id, and changes nothing. Exit 1 when nothing matched."""
    sources = SOURCES[args.source]
    message_ids: Collection[str] | None = None if args.all else set(args.message_ids)
    # Every resource first: a missing setting stops the run before anything has moved.
    dead_letters = await ctx.dead_letter_queues() if "dead-letters" in sources else None
    conn = await ctx.database() if "parked" in sources else None
    sender = await ctx.sender() if conn is not None and not ctx.dry_run else None

    done: list[Resubmitted] = []
    error: IntegrationError | None = None
    try:
        if ctx.dry_run:
            if dead_letters is not None:
                letters = await dead_letters.peek(args.queue, limit=DRY_RUN_SCAN)
                done += _plan(
                    "dead-letter", args.queue, [letter.message_id for letter in letters], message_ids
                )
            if conn is not None:
                parked = await list_parked(conn, args.queue, message_ids=message_ids, limit=DRY_RUN_SCAN)
                done += _plan("parked", args.queue, [p.message_id for p in parked], message_ids)
        else:
            if dead_letters is not None:
                done += await dead_letters.resubmit(args.queue, message_ids)
            if conn is not None and sender is not None:
                done += await resubmit_parked(conn, sender, args.queue, message_ids)
    except IntegrationError as exc:
        if not done:
            raise
        error = exc  # some were resubmitted: say which, then the error
    return _resubmit_report(args.queue, ctx.dry_run, done, error)


def _plan(source: Source, queue: str, ids: list[str], wanted: Collection[str] | None) -> list[Resubmitted]:
    """What a resubmit would do: the same new ids, chosen the same way, nothing sent."""
    planned: list[Resubmitted] = []
    for message_id in ids:
        if wanted is None or message_id in wanted:
            new_id = resubmit_id(message_id, {p.new_message_id for p in planned})
            planned.append(Resubmitted(source, queue, message_id, new_id))
    return planned


def _resubmit_report(
    queue: str, dry_run: bool, done: list[Resubmitted], error: IntegrationError | None
) -> Report:
    rows = [
        {"source": r.source, "message_id": r.message_id, "new_message_id": r.new_message_id} for r in done
    ]
    data: dict[str, Any] = {
        "queue": queue,
        "dry_run": dry_run,
        "resubmitted": rows,
        "error": None
        if error is None
        else {"kind": "unavailable" if error.transient else "refused", "message": str(error)},
    }
    if not done:
        return Report(
            data,
            [Text(f"nothing to resubmit on {queue}: no dead letter or parked message matched")],
            Exit.NOTHING,
        )
    done_text = f"{len(rows)} message(s) to {queue}"
    summary = (
        f"would resubmit {done_text} (dry run: nothing changed)" if dry_run else f"resubmitted {done_text}"
    )
    blocks: list[Block] = [
        Text(summary),
        Table(("source", "message_id", "new_message_id"), [list(row.values()) for row in rows]),
    ]
    status = Exit.OK
    if error is not None:
        blocks.append(Text(f"then stopped: {error}; what is left stays where it was: run it again"))
        status = Exit.UNAVAILABLE if error.transient else Exit.NOTHING
    return Report(data, blocks, status)
