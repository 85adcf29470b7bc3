"""``document-verification``: are the stored bytes what the event claimed, and are they safe?

Sent through the outbox by the transfer when a row becomes ``transferred``. The blob is read
once, in ranges (memory stays flat): its sha256 is computed again (the bytes must still be the
ones transferred), a :class:`~shared.documents.sniff.Sample` is filled for the content sniffer,
and the optional scan hook gets every byte (:mod:`~shared.documents.scan`). Then:

* **verified**: the sniffer accepts the bytes as the declared type and the scanner (if any)
  calls them clean;
* **rejected** with the reason otherwise (unsupported type, empty, an executable, a type
  mismatch, a bad file name extension, flagged by the scan, bytes changed in storage, blob
  missing): an alert ``document_rejected`` is raised and the blob moves under ``quarantine/``
  (``blob_path`` follows).

Idempotent: a verdict is written only on a ``transferred`` row whose sha256 is the message's
(a redelivered message finds it decided and completes as :class:`Ignored`); a rejected row
whose blob has not reached quarantine yet (the move failed transiently) is moved by the next
delivery. Storage, PostgreSQL or the scanner being unreachable re-sends the message with the
backoff (:class:`RetryLater`); the document stays ``transferred`` meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.alerts import AlertSink
from shared.db import transaction
from shared.documents import store
from shared.documents.blobs import DocumentBlobs
from shared.documents.messages import MalformedMessage, VerificationRequest
from shared.documents.naming import QUARANTINE_PREFIX
from shared.documents.retrying import outcome_word, retry_or_park
from shared.documents.scan import NoScanner, Scanner, ScanResult
from shared.documents.sniff import SampleBuilder, Verdict, judge
from shared.documents.store import DocumentRow
from shared.errors import DependencyUnavailable, TransientError
from shared.messaging import DOCUMENT_VERIFICATION, MessageSender
from shared.outcomes import Failed, Ignored, Outcome, Processed, RetryLater
from shared.queued import QueuedMessage

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

READ_CHUNK = 4 * 1024 * 1024

_DECIDED = {"verified": "already verified", "rejected": "already rejected", "failed": "the transfer failed"}


@dataclass(frozen=True, slots=True)
class VerificationDecision:
    outcome: Outcome
    request: VerificationRequest | None = None
    document: DocumentRow | None = None
    verdict: Verdict | None = None


class DocumentVerification:
    def __init__(
        self,
        *,
        db: AsyncConnectionPool,
        sender: MessageSender,
        blobs: DocumentBlobs,
        alerter: AlertSink,
        scanner: Scanner | None = None,
        read_chunk: int = READ_CHUNK,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._sender = sender
        self._blobs = blobs
        self._alerter = alerter
        self._scanner = scanner or NoScanner()
        self._read_chunk = read_chunk
        self._clock = clock

    async def handle(self, message: QueuedMessage) -> Outcome:
        decision = await self.decide(message)
        return await self._act(message, decision)

    # --- deciding -----------------------------------------------------------------------------

    async def decide(self, message: QueuedMessage) -> VerificationDecision:
        try:
            request = VerificationRequest.parse(message.body)
        except MalformedMessage as exc:
            return VerificationDecision(Failed(f"malformed verification message: {exc}"))
        try:
            async with transaction(self._db) as conn:
                document = await store.load(conn, request.document_id)
        except DependencyUnavailable as exc:
            return VerificationDecision(RetryLater(str(exc)), request)
        if document is None:
            return VerificationDecision(Ignored("no such document"), request)
        if document.sha256 != request.sha256:
            return VerificationDecision(Ignored("superseded: a newer version was uploaded"), request)
        if document.status == "rejected" and not _quarantined(document):
            return VerificationDecision(Processed(), request, document)  # finish the move
        if document.status != "transferred":
            return VerificationDecision(Ignored(_DECIDED.get(document.status, document.status)), request)
        try:
            verdict = await self._inspect(document)
        except TransientError as exc:
            return VerificationDecision(RetryLater(str(exc), exc.retry_after), request, document)
        return VerificationDecision(Processed(), request, document, verdict)

    async def _inspect(self, document: DocumentRow) -> Verdict:
        blob = await self._blobs.committed(document.blob_path) if document.blob_path else None
        if blob is None:
            return Verdict(False, "missing", "the blob is missing from Blob Storage")
        builder = SampleBuilder()
        sha256 = hashlib.sha256()
        session = await self._scanner.start()
        try:
            async for chunk in self._blobs.read(blob, chunk_size=self._read_chunk):
                builder.feed(chunk)
                await asyncio.to_thread(sha256.update, chunk)
                await session.feed(chunk)
            scan = await session.finish()
        except BaseException:
            await session.abort()
            raise
        if sha256.hexdigest() != document.sha256:
            return Verdict(False, "changed", "the blob's bytes are not the ones transferred (sha256 differs)")
        verdict = judge(builder.sample(), declared_type=document.content_type, file_name=document.file_name)
        return _with_scan(verdict, scan)

    # --- acting ---------------------------------------------------------------------------------

    async def _act(self, message: QueuedMessage, decision: VerificationDecision) -> Outcome:
        outcome = decision.outcome
        document = decision.document
        if isinstance(outcome, Processed) and document is not None:
            try:
                outcome = await self._record(document, decision.verdict)
            except TransientError as exc:
                outcome = RetryLater(str(exc), exc.retry_after)
        if isinstance(outcome, RetryLater):
            if decision.request is not None:
                await self._note(decision.request, outcome.reason)
            await retry_or_park(
                db=self._db,
                sender=self._sender,
                alerter=self._alerter,
                queue=DOCUMENT_VERIFICATION,
                message=message,
                outcome=outcome,
                now=self._clock(),
            )
        word = outcome_word(outcome)
        metrics.increment("document_verifications", outcome=word)
        if not isinstance(outcome, Processed):
            log.info("document verification %s: %s", word, getattr(outcome, "reason", ""))
        return outcome

    async def _record(self, document: DocumentRow, verdict: Verdict | None) -> Outcome:
        """Write the verdict (a None verdict: the row is rejected already, only the move is left)."""
        if verdict is not None:
            statement = store.MARK_VERIFIED if verdict.accepted else store.MARK_REJECTED
            async with transaction(self._db) as conn:
                cursor = await conn.execute(
                    statement,
                    {
                        "id": document.id,
                        "sha256": document.sha256,
                        "detected_type": verdict.detected,
                        "reason": verdict.reason,
                    },
                )
                written = await cursor.fetchone() is not None
            if not written:
                return Ignored("decided meanwhile by another delivery of this message")
            metrics.increment("documents_verified", result="verified" if verdict.accepted else "rejected")
            if verdict.accepted:
                log.info("document %s verified as %s", document.id, verdict.detected)
                return Processed()
            await self._alerter.raise_alert(
                "document_rejected",
                document.id,
                f"document {document.id} ({document.portal_document_id}) rejected: {verdict.reason}; "
                "its blob moves under quarantine/",
            )
        await self._quarantine(document)
        return Processed()

    async def _quarantine(self, document: DocumentRow) -> None:
        if not document.blob_path or _quarantined(document):
            return
        if (
            await self._blobs.committed(document.blob_path) is None
            and await self._blobs.committed(QUARANTINE_PREFIX + document.blob_path) is None
        ):
            return  # nothing to move (the blob is missing: that is the rejection's reason)
        moved = await self._blobs.quarantine(document.blob_path)
        async with transaction(self._db) as conn:
            await conn.execute(
                store.MOVED_TO_QUARANTINE, {"id": document.id, "sha256": document.sha256, "blob_path": moved}
            )
        log.info("document %s moved to %s", document.id, moved)

    async def _note(self, request: VerificationRequest, reason: str) -> None:
        with contextlib.suppress(DependencyUnavailable):
            async with transaction(self._db) as conn:
                await conn.execute(
                    store.NOTE_ERROR, {"id": request.document_id, "sha256": request.sha256, "reason": reason}
                )


def _quarantined(document: DocumentRow) -> bool:
    return document.blob_path is None or document.blob_path.startswith(QUARANTINE_PREFIX)


def _with_scan(verdict: Verdict, scan: ScanResult) -> Verdict:
    if scan.clean:
        return verdict
    flagged = f"the malware scan flagged it ({scan.threat or 'no name given'})"
    if not verdict.accepted:
        return Verdict(False, verdict.detected, f"{verdict.reason}; {flagged}")
    return Verdict(False, verdict.detected, flagged)
