"""``ops candidates``: a candidate's ATS state rebuilt under today's rules, or their data erased.

``rebuild`` needs ``DATABASE_URL`` and ``PORTAL_BASE_URL`` (events are read again as the
processor reads them, document URLs included) and reads the rule settings (``SCORE_BANDS``,
``PASS_MARKS``, ``STAGE_RULES``) as the app does. ``erase`` needs ``DATABASE_URL``, the documents
storage (``DocumentsStorage`` or ``DocumentsStorage__serviceUri``) and ``ServiceBusConnection``
(dead letters that name the candidate): it reaches everything the app holds, or stops before
changing anything. See :mod:`shared.recovery.rebuild` and :mod:`shared.recovery.erase`.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ops.command import Area, option
from ops.context import Context
from ops.report import Block, Exit, Fields, Heading, Report, Table, Text
from shared.errors import ConfigurationError
from shared.messaging import PORTAL_EVENTS
from shared.recovery import audit, erase, rebuild
from shared.settings import setting

AREA = Area("candidates", "a candidate's state rebuilt after a rule change, or their data erased (GDPR)")

_PORTAL_ID = re.compile(r"^cand_[A-Za-z0-9_-]{1,100}$")


def portal_id(text: str) -> str:
    if not _PORTAL_ID.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a portal candidate id (cand_...)")
    return text


_CANDIDATE = option(
    "candidate", type=portal_id, metavar="PORTAL_ID", help="the portal's candidate id (cand_...)"
)


@AREA.command(
    "rebuild",
    help="recompute a candidate's stage, review flag and assessment bands under today's rules",
    changes_data=True,
    options=(_CANDIDATE,),
)
async def rebuild_candidate(ctx: Context, args: argparse.Namespace) -> Report:
    """Replay the candidate's stored events and the ATS commands that moved their stage, in time
    order, through the processor's own decisions under today's SCORE_BANDS, PASS_MARKS and
    STAGE_RULES, and set what the rules decide: the stage (with a history row), needs_review
    (set, never cleared: only the ATS clears it) and each screening's or assessment's band and
    pass. A final stage (hired, rejected, withdrawn) is kept. Run it with --dry-run first: it
    prints the differences and changes nothing. Audited (audit_log, candidates.rebuild). Exit 1
    when the ATS has no such candidate."""
    base_url = setting(ctx.settings, "PORTAL_BASE_URL")
    if base_url is None:
        raise ConfigurationError("PORTAL_BASE_URL is required to read the candidate's events again")
    rules = rebuild.rules_from(ctx.settings)
    conn = await ctx.database()
    try:
        rebuilt, changes = await rebuild.rebuild(
            conn,
            args.candidate,
            rules,
            portal_base_url=base_url.rstrip("/"),
            apply=not ctx.dry_run,
            actor=audit.operator(),
        )
    except rebuild.CandidateNotFound:
        data = {"candidate": args.candidate, "dry_run": ctx.dry_run, "found": False, "changes": []}
        return Report(data, [Text(f"the ATS has no candidate {args.candidate}")], Exit.NOTHING)
    data = {
        "candidate": args.candidate,
        "dry_run": ctx.dry_run,
        "found": True,
        "steps": rebuilt.steps,
        "rebuilt": {"stage": rebuilt.stage, "needs_review": rebuilt.needs_review},
        "unreadable_events": rebuilt.unreadable,
        "changes": [c.as_dict() for c in changes],
    }
    blocks: list[Block] = [
        Text(
            f"{args.candidate}: {rebuilt.steps} event(s) and command(s) replayed under today's rules; "
            f"rebuilt stage {rebuilt.stage}, needs_review {'yes' if rebuilt.needs_review else 'no'}"
        )
    ]
    if not changes:
        blocks.append(Text("nothing differs: the candidate is as today's rules make them"))
    else:
        verb = "would change (dry run: nothing changed)" if ctx.dry_run else "changed"
        blocks.append(Heading(verb))
        rows = [[c.what, c.now, c.rebuilt, "yes" if c.applied else "no", c.note] for c in changes]
        blocks.append(Table(("what", "now", "rebuilt", "applies", "note"), rows))
    if rebuilt.unreadable:
        blocks.append(
            Text(f"not readable under today's validation (left out): {', '.join(rebuilt.unreadable)}")
        )
    return Report(data, blocks)


@AREA.command(
    "erase",
    help="erase a candidate's personal data everywhere the app holds it, leaving a tombstone (GDPR)",
    changes_data=True,
    options=(_CANDIDATE,),
)
async def erase_candidate(ctx: Context, args: argparse.Namespace) -> Report:
    """Erase the candidate at their request: delete their ATS rows (candidate, history,
    assessments, interviews, offers, documents) and blobs, scrub every stored payload that
    names them (webhook_events, rejected_deliveries, parked_messages, sync_queue), resubmit the
    portal-events dead letters that name them (the processor drops them), and leave a tombstone
    so that later events about them are ignored (reason "erased") and never stored. Event ids,
    types and reasons stay. Deleted blobs stay soft-deleted for the storage account's retention
    (30 days) before Azure purges them. Audited without personal data (candidates.erase). Try
    --dry-run first: it counts what would go and changes nothing. Running it again finishes an
    interrupted run."""
    conn = await ctx.database()
    dead_letters = await ctx.dead_letter_queues()
    async with _blobs(ctx.settings) as blobs:
        erasure = await erase.erase_rows(
            conn, args.candidate, apply=not ctx.dry_run, actor=audit.operator(), now=datetime.now(UTC)
        )
        erasure.blobs = await erase.erase_blobs(blobs, erasure.ats_id, apply=not ctx.dry_run)
    letters = await dead_letters.peek(PORTAL_EVENTS, limit=10_000)
    naming = [letter.message_id for letter in letters if erase.names_candidate(letter.body, args.candidate)]
    if naming and not ctx.dry_run:
        await dead_letters.resubmit(PORTAL_EVENTS, naming)
    erasure.dead_letters = naming
    data = {"dry_run": ctx.dry_run, **erasure.as_dict()}
    found = bool(erase.summary(erasure) or erasure.blobs or naming or erasure.ats_id)
    if not found and not erasure.already_erased:
        text = (
            f"nothing about {args.candidate} is held (a tombstone is {'not ' if ctx.dry_run else ''}recorded)"
        )
        return Report(data, [Text(text)], Exit.OK if not ctx.dry_run else Exit.NOTHING)
    verb = "would erase (dry run: nothing changed)" if ctx.dry_run else "erased"
    pairs: list[tuple[str, object]] = [(table, n) for table, n in erase.summary(erasure).items()]
    pairs += [("blobs", len(erasure.blobs)), ("portal-events dead letters resubmitted", len(naming))]
    blocks: list[Block] = [
        Text(
            f"{verb}: {args.candidate}"
            + (" (already erased before; finishing)" if erasure.already_erased else "")
        ),
        Fields(pairs),
        Text(
            f"deleted blobs stay soft-deleted until {erasure.soft_deleted_until:%Y-%m-%d}, "
            "then Azure purges them"
        ),
    ]
    return Report(data, blocks)


@contextlib.asynccontextmanager
async def _blobs(settings: Mapping[str, str]) -> AsyncIterator[erase.CandidateBlobs]:
    """The documents container, from the app's own settings."""
    from azure.storage.blob.aio import BlobServiceClient

    container = setting(settings, "DOCUMENTS_CONTAINER") or "candidate-documents"
    connection_string = setting(settings, "DocumentsStorage")
    service_uri = setting(settings, "DocumentsStorage__serviceUri")
    credential: Any = None
    if connection_string is not None:
        service = BlobServiceClient.from_connection_string(connection_string)
    elif service_uri is not None:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
        service = BlobServiceClient(service_uri, credential=credential)
    else:
        raise ConfigurationError(
            "DocumentsStorage (or DocumentsStorage__serviceUri) is required: "
            "the candidate's documents are there"
        )
    try:
        yield erase.AzureCandidateBlobs(service.get_container_client(container))
    finally:
        await service.close()
        if credential is not None:
            await credential.close()
