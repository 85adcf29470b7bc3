"""``ops documents``: candidates' documents as the transfer and the verification left them, and
queuing a failed one again once its cause is fixed.

Reads and writes ``candidate_documents`` and the ``outbox`` (``DATABASE_URL`` only). A retry puts
the row back to ``pending`` and writes a ``document-transfers`` message to the outbox in the same
statement (``shared.documents.store.RETRY``); the app's outbox relay (every 10 s) sends it, and
the transfer and verification run as for a new upload ([docs/documents.md](../docs/documents.md)).
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from ops.command import Area, one_of, option, positive_int
from ops.context import Context
from ops.report import Exit, Report, Table, Text, utc
from shared.contract.fields import is_portal_id
from shared.documents import store

AREA = Area("documents", "candidates' documents: transfer and verification status, retrying failed ones")

STATUSES = ("pending", "transferred", "verified", "rejected", "failed")

#: What ``retry`` takes back to pending: by id, a failed or rejected document (after a scanner
#: false positive); with ``--all-failed``, every failed one.
RETRYABLE_BY_ID = ("failed", "rejected")

#: Widest a free-text column is shown in a table (--json carries it whole).
REASON_WIDTH = 60

COLUMNS = (
    "document_id",
    "portal_document_id",
    "kind",
    "size_bytes",
    "status",
    "attempts",
    "reason",
    "updated_at",
)

# The rows a retry would take (a dry run shows them; a real run takes them in store.RETRY).
CANDIDATES = """
SELECT d.id::text, d.portal_document_id, c.portal_candidate_id, d.kind, d.content_type, d.size_bytes,
       d.status, d.attempts, d.blob_path, coalesce(d.rejection_reason, d.last_error) AS reason,
       d.updated_at
FROM candidate_documents d JOIN candidates c ON c.id = d.candidate_id
WHERE d.status = ANY(%(statuses)s::text[])
  AND (%(every)s OR d.id = ANY(%(ids)s::uuid[]) OR d.portal_document_id = ANY(%(portal_ids)s::text[]))
ORDER BY d.portal_document_id
"""

# Where a named document is, when it cannot be retried.
FIND = """
SELECT d.id::text, d.portal_document_id, d.status
FROM candidate_documents d
WHERE d.id = ANY(%(ids)s::uuid[]) OR d.portal_document_id = ANY(%(portal_ids)s::text[])
"""


def document_id(text: str) -> str:
    """A document named by the ATS's id (a UUID) or the portal's (``doc_...``)."""
    if is_portal_id(text, "doc_"):
        return text
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a document UUID nor a portal document id (doc_...)"
        ) from None


def _document(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "document_id": row["id"],
        "portal_document_id": row["portal_document_id"],
        "portal_candidate_id": row["portal_candidate_id"],
        "kind": row["kind"],
        "content_type": row["content_type"],
        "size_bytes": row["size_bytes"],
        "status": row["status"],
        "attempts": row["attempts"],
        "blob_path": row["blob_path"],
        "reason": row["reason"],
        "updated_at": utc(row["updated_at"]),
    }


def _table(documents: list[dict[str, Any]]) -> Table:
    return Table(COLUMNS, [[d[c] for c in COLUMNS] for d in documents], {"reason": REASON_WIDTH})


@AREA.command(
    "list",
    help="list documents, most recently changed first (e.g. --status failed)",
    options=(
        option("--status", choices=STATUSES, help="only documents in this state"),
        option(
            "--limit", type=positive_int, default=50, metavar="N", help="at most N documents (default 50)"
        ),
    ),
)
async def list_documents(ctx: Context, args: argparse.Namespace) -> Report:
    """List documents with their status, transfer attempts and reason, most recently changed first.

    `--status failed` shows what could not be transferred (404, a size or sha256 that disagrees
    with the event, a redirect, a URL or address refused, too large) with the recorded reason;
    `--status rejected` what verification refused (its blob is under quarantine/). A pending or
    transferred document with a reason is waiting on a transient failure (it retries by
    itself). An empty list is an answer (exit 0)."""
    conn = await ctx.database()
    cursor = await conn.execute(store.LIST, {"status": args.status, "limit": args.limit + 1})
    rows = await cursor.fetchall()
    more = len(rows) > args.limit
    documents = [_document(row) for row in rows[: args.limit]]
    summary = f"{len(documents)} document(s)" + (f"; more exist beyond --limit {args.limit}" if more else "")
    return Report(
        data={"count": len(documents), "more": more, "documents": documents},
        blocks=[_table(documents), Text(summary)] if documents else [Text(summary)],
    )


@AREA.command(
    "retry",
    help="queue the transfer of a failed (or rejected) document again, or of every failed one",
    options=(
        one_of(
            option(
                "document",
                nargs="?",
                type=document_id,
                metavar="DOC_ID",
                help="the document: its ATS id (UUID) or the portal's (doc_...)",
            ),
            option("--all-failed", action="store_true", help="every document whose transfer failed"),
        ),
    ),
    changes_data=True,
)
async def retry_documents(ctx: Context, args: argparse.Namespace) -> Report:
    """Put a failed document back to pending and queue its transfer, once the cause is fixed.

    DOC_ID takes a failed document, or a rejected one (after a scanner false positive: it is
    downloaded and verified again; the quarantined copy stays for the record); --all-failed
    takes every failed document. The row and the document-transfers message are written in one
    transaction (the outbox); the app's outbox relay sends the message within about 10 s. With
    --dry-run, lists what would be retried and changes nothing. Exit 1 when nothing matched (the
    output says where the named document is)."""
    named = [args.document] if args.document else []
    params = {
        "statuses": ["failed"] if args.all_failed else list(RETRYABLE_BY_ID),
        "every": bool(args.all_failed),
        "ids": [d for d in named if not d.startswith("doc_")],
        "portal_ids": [d for d in named if d.startswith("doc_")],
    }
    conn = await ctx.database()
    rows = await (await conn.execute(CANDIDATES, params)).fetchall()
    documents = [_document(row) for row in rows]
    if ctx.dry_run or not documents:
        retried = documents
    else:
        async with conn.transaction():
            taken = await (await conn.execute(store.RETRY, params)).fetchall()
        taken_ids = {row["document_id"] for row in taken}
        retried = [d for d in documents if d["document_id"] in taken_ids]
    data = {"dry_run": ctx.dry_run, "retried": retried}
    if not retried:
        return Report(data=data, blocks=[Text(await _nothing(conn, params, args))], exit=Exit.NOTHING)
    verb = "would queue" if ctx.dry_run else "queued"
    tail = " (dry run: nothing changed)" if ctx.dry_run else "; the outbox relay sends them within about 10 s"
    return Report(data=data, blocks=[Text(f"{verb} {len(retried)} transfer(s){tail}"), _table(retried)])


async def _nothing(conn: Any, params: dict[str, Any], args: argparse.Namespace) -> str:
    if args.all_failed:
        return "no failed document"
    found = await (await conn.execute(FIND, params)).fetchall()
    if not found:
        return f"no document {args.document}"
    row = found[0]
    return (
        f"document {row['portal_document_id']} ({row['id']}) is {row['status']}: "
        f"only a {' or '.join(RETRYABLE_BY_ID)} document is retried"
    )
