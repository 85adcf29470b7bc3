"""``ops alerts``: the incidents the app raised (``alerts``), and closing one by hand.

One row per incident (kind, key): first and last seen, how many occurrences, whether it was
posted, and how it resolves (docs/operations.md, "Alerts"). ``list`` needs ``DATABASE_URL``;
``resolve`` also ``REDIS_URL`` (the incident's de-duplication mark lives there: left behind, the
next occurrence would count as a repeat and not be posted), and posts the resolution to
``ALERT_WEBHOOK_URL`` when it is set, as the app does.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from ops.command import Area, moment, option, positive_int
from ops.context import Context
from ops.report import Block, Exit, Report, Table, Text, utc
from shared.alerts import Alerter
from shared.errors import ConfigurationError
from shared.health.alert_state import LIST, AlertRow, AlertStore, RedisDedupe
from shared.health.conditions import resolution_of
from shared.recovery import audit
from shared.redis_store import create_redis
from shared.settings import setting

AREA = Area("alerts", "the incidents the app raised, one per kind and cause; close one by hand")

COLUMNS = ("kind", "key", "count", "first_seen", "last_seen", "resolved_at", "text")
TEXT_WIDTH = 60
FORMATS = ("auto", "teams", "slack")


def _alert(row: AlertRow) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "key": row.key,
        "count": row.count,
        "first_seen": utc(row.first_seen),
        "last_seen": utc(row.last_seen),
        "resolved_at": utc(row.resolved_at),
        "resolved_by": row.resolved_by,
        "text": row.last_text,
        "notified": row.notified_at is not None,
        "post_pending": row.next_post_at is not None,
        "resolves": resolution_of(row.kind),
    }


@AREA.command(
    "list",
    help="open alerts, newest first (--all: resolved ones too)",
    options=(
        option("--all", action="store_true", help="resolved incidents too"),
        option("--kind", metavar="KIND", help="only this kind (event_parked, sync_failed, ...)"),
        option(
            "--since", type=moment, metavar="WHEN", help="last seen since 30m, 2h, 7d ago, or an ISO time"
        ),
        option("--limit", type=positive_int, default=50, metavar="N", help="at most N alerts (default 50)"),
    ),
)
async def list_alerts(ctx: Context, args: argparse.Namespace) -> Report:
    """List incidents: kind, key (the cause), occurrences, first and last seen, the last text,
    and how each resolves (by itself when its condition clears, or by `ops alerts resolve`).
    An empty list is an answer (exit 0)."""
    conn = await ctx.database()
    async with conn.cursor(row_factory=class_row(AlertRow)) as cursor:
        params = {"all": args.all, "kind": args.kind, "since": args.since, "limit": args.limit}
        rows = await (await cursor.execute(LIST, params)).fetchall()
    alerts = [_alert(row) for row in rows]
    what = "incident(s)" if args.all else "open incident(s)"
    blocks: list[Block] = [Text(f"{len(alerts)} {what}")]
    if alerts:
        blocks.insert(0, Table(COLUMNS, [[a[c] for c in COLUMNS] for a in alerts], {"text": TEXT_WIDTH}))
    return Report(data={"count": len(alerts), "alerts": alerts}, blocks=blocks)


class _OneConnection:
    """The operator's connection where the alert store expects a pool."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[AsyncConnection[Any]]:
        yield self._conn


@AREA.command(
    "resolve",
    help="close an open incident by hand and post its resolution",
    changes_data=True,
    options=(
        option("kind", metavar="KIND", help="the alert's kind (document_rejected, sync_failed, ...)"),
        option("key", metavar="KEY", help="its key (the cause: a queue, a command or document id, portal)"),
    ),
)
async def resolve(ctx: Context, args: argparse.Namespace) -> Report:
    """Close the open incident KIND KEY: its row is marked resolved (by the operator), its
    de-duplication mark in Redis is removed (so a new occurrence is a new incident, posted), and
    the resolution is posted to ALERT_WEBHOOK_URL when set. For the alerts that do not resolve
    themselves (document_rejected), or once a cause is handled another way. Exit 1 when no such
    incident is open."""
    conn = await ctx.database()
    async with conn.cursor(row_factory=class_row(AlertRow)) as cursor:
        params = {"all": False, "kind": args.kind, "since": None, "limit": 1000}
        rows = [row for row in await (await cursor.execute(LIST, params)).fetchall() if row.key == args.key]
    found = [_alert(row) for row in rows]
    data: dict[str, Any] = {
        "kind": args.kind,
        "key": args.key,
        "dry_run": ctx.dry_run,
        "alert": found[0] if found else None,
    }
    if ctx.dry_run:
        if not found:
            return Report(data, [Text(f"no open {args.kind} alert for {args.key}")], Exit.NOTHING)
        return Report(data, [Text(f"would resolve {args.kind} [{args.key}] (dry run: nothing changed)")])
    redis_url = setting(ctx.settings, "REDIS_URL")
    if redis_url is None:
        raise ConfigurationError(
            "REDIS_URL is required to resolve an alert (its de-duplication mark lives there)"
        )
    alert_format = setting(ctx.settings, "ALERT_FORMAT") or "auto"
    if alert_format not in FORMATS:
        raise ConfigurationError(f"ALERT_FORMAT must be one of {', '.join(FORMATS)}")
    client = create_redis(redis_url, auth=setting(ctx.settings, "REDIS_AUTH") or "password")
    prefix = setting(ctx.settings, "REDIS_KEY_PREFIX") or "portal:"
    alerter = Alerter(
        setting(ctx.settings, "ALERT_WEBHOOK_URL"),
        alert_format=alert_format,
        store=AlertStore(_OneConnection(conn)),
        dedupe=RedisDedupe(client, prefix, remind_after=_remind_after(ctx.settings)),
    )
    try:
        resolved = await alerter.resolve(args.kind, args.key, by="operator")
    finally:
        await alerter.close()
        await client.aclose()
    if not resolved:
        return Report(data, [Text(f"no open {args.kind} alert for {args.key}")], Exit.NOTHING)
    await audit.record(
        conn,
        "alerts.resolve",
        f"{args.kind}:{args.key}",
        {"at": datetime.now(UTC).isoformat()},
        actor=audit.operator(),
    )
    return Report(data, [Text(f"resolved {args.kind} [{args.key}]")])


def _remind_after(settings: Any) -> timedelta:
    raw = setting(settings, "ALERT_REMIND_HOURS")
    try:
        hours = float(raw) if raw is not None else 24.0
    except ValueError:
        raise ConfigurationError("ALERT_REMIND_HOURS must be a number of hours") from None
    return timedelta(hours=hours)
