"""The devhost command line.

``python -m devhost [start]`` runs the app; ``python -m devhost send QUEUE FILE|-`` drops a
message on a local queue; ``python -m devhost dead-letters QUEUE [--resubmit ID | --all]``
lists or resubmits dead letters. Every command reads ``ServiceBusConnection`` (a PostgreSQL URL)
from the environment or ``local.settings.json``. Exit status: 0 on success (also after a
clean Ctrl-C/SIGTERM shutdown), 1 on an error, printed as one line naming its cause.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devhost.host import Host, HostOptions, queue_url
from shared.errors import ConfigurationError, DependencyUnavailable, MessageTooLarge
from shared.local_settings import load_local_settings
from shared.messaging.factory import CONNECTION_SETTING
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.pg_receiver import PgQueueReceiver
from shared.messaging.port import OutboundMessage, PropertyValue

COMMANDS = ("start", "send", "dead-letters")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--script-root", type=Path, default=Path.cwd(), help="the app's folder (default: .)")
    parser.add_argument(
        "--settings-file", type=Path, help="settings to load (default: <script-root>/local.settings.json)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Run the function app locally.")
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="run the function app (the default command)")
    _common(start)
    start.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    start.add_argument("--host-json", type=Path, help="host.json (default: <script-root>/host.json)")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--port", type=int, default=7071)
    start.add_argument("--lock-duration", type=float, default=60.0, help="queue lock duration, seconds")
    start.add_argument("--max-delivery-count", type=int, default=10)
    start.add_argument("--shutdown-grace", type=float, default=30.0, help="seconds to let invocations finish")
    start.add_argument("--poll-interval", type=float, default=1.0, help="idle queue poll, seconds")
    start.add_argument("--max-concurrent-calls", type=int, help="override host.json maxConcurrentCalls")

    send = sub.add_parser("send", help="send a message to a local queue")
    _common(send)
    send.add_argument("queue")
    send.add_argument("file", help="file holding the body, or - for standard input")
    send.add_argument("--message-id", help="default: a new UUID")
    send.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="application property (repeatable); true/false/integers/decimals are typed",
    )
    send.add_argument("--scheduled-in", type=float, metavar="SECONDS", help="deliver no sooner than this")
    send.add_argument("--content-type", default="application/json")

    dead = sub.add_parser("dead-letters", help="list (or resubmit) a queue's dead letters")
    _common(dead)
    dead.add_argument("queue")
    which = dead.add_mutually_exclusive_group()
    which.add_argument("--resubmit", type=int, metavar="ID", help="put this dead letter back on its queue")
    which.add_argument("--all", action="store_true", help="resubmit every dead letter of the queue")
    return parser


def parse_property(text: str) -> tuple[str, PropertyValue]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigurationError(f"--property {text!r} is not KEY=VALUE")
    if raw in ("true", "false"):
        return key, raw == "true"
    for kind in (int, float):
        try:
            return key, kind(raw)
        except ValueError:
            pass
    return key, raw


def _queue_url(args: argparse.Namespace) -> str:
    load_local_settings(args.settings_file or args.script_root / "local.settings.json")
    return queue_url(os.environ, CONNECTION_SETTING)


def _read_body(source: str) -> bytes:
    return sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()


async def _send(args: argparse.Namespace, body: bytes) -> int:
    message = OutboundMessage(
        body=body,
        message_id=args.message_id or str(uuid.uuid4()),
        scheduled_enqueue_time=(
            datetime.now(UTC) + timedelta(seconds=args.scheduled_in) if args.scheduled_in else None
        ),
        application_properties=dict(parse_property(p) for p in args.property),
        content_type=args.content_type,
    )
    sender = PgQueueSender(_queue_url(args))
    try:
        stored = await sender.store(args.queue, [message])
    finally:
        await sender.close()
    if stored:
        print(f"sent {message.message_id} to {args.queue}")
    else:
        print(f"{message.message_id} was sent to {args.queue} in the last 10 minutes: dropped as a duplicate")
    return 0


async def _dead_letters(args: argparse.Namespace) -> int:
    pool = QueuePool(_queue_url(args))
    receiver = PgQueueReceiver(pool)
    try:
        if args.all or args.resubmit is not None:
            count = await receiver.resubmit(args.queue, None if args.all else args.resubmit)
            if args.resubmit is not None and not count:
                print(f"devhost: error: no dead letter {args.resubmit} on {args.queue}", file=sys.stderr)
                return 1
            print(f"resubmitted {count} message(s) to {args.queue}")
            return 0
        rows = await receiver.dead_letters(args.queue)
    finally:
        await pool.close()
    print(f"{len(rows)} dead letter(s) on {args.queue}")
    if rows:
        print("id\tmessage_id\treason\tdescription\tdelivery_count\tdead_lettered_at")
    for row in rows:
        description = (row.dead_letter_description or "").replace("\n", " ")
        if len(description) > 100:
            description = description[:97] + "..."
        when = row.dead_lettered_at.isoformat(timespec="seconds") if row.dead_lettered_at else ""
        print(
            f"{row.sequence_number}\t{row.message_id}\t{row.dead_letter_reason}\t{description}\t"
            f"{row.delivery_count}\t{when}"
        )
    return 0


def _start(args: argparse.Namespace) -> int:
    options = HostOptions(
        app=args.app,
        script_root=args.script_root,
        settings_file=args.settings_file,
        host_json=args.host_json,
        host=args.host,
        port=args.port,
        lock_duration=timedelta(seconds=args.lock_duration),
        max_delivery_count=args.max_delivery_count,
        shutdown_grace=args.shutdown_grace,
        poll_interval=args.poll_interval,
        max_concurrent_calls=args.max_concurrent_calls,
    )
    host = Host.prepare(options)
    asyncio.run(host.run_until_signalled())
    logging.getLogger("devhost").info("Stopped.")
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        # A synchronous function still running in its thread: its message was abandoned and
        # will be redelivered, so do not wait for it.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in (*COMMANDS, "-h", "--help"):
        arguments.insert(0, "start")
    args = build_parser().parse_args(arguments)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("psycopg", "azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "send":
            return asyncio.run(_send(args, _read_body(args.file)))
        if args.command == "dead-letters":
            return asyncio.run(_dead_letters(args))
        return _start(args)
    except (ConfigurationError, DependencyUnavailable, MessageTooLarge, OSError) as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 1
