"""``document-transfers``: one document from the portal into Blob Storage, streamed, checked.

Decide first, act once (STYLE.md): :meth:`DocumentTransfer.handle` does the transfer and ends
the message in exactly one :mod:`~shared.outcomes` value, then one step records it.

* The row decides whether there is anything to do: a message about another sha256 than the
  row's is superseded (the candidate uploaded a newer version), a row already ``transferred``
  (or further) or ``failed`` is left alone (:class:`Ignored`, with the reason).
* The blob is ``{ATS candidate id}/{document id}/{sha256}``. When it is already committed (a
  redelivered message whose first run committed it and then lost the database), only the
  bookkeeping is finished: no second download, one blob.
* Otherwise the bytes stream from the portal (:mod:`~shared.documents.download`) into blocks of
  :data:`BLOCK_SIZE`, at most :data:`MAX_IN_FLIGHT` of them staging while the next one fills,
  so memory stays near ``(MAX_IN_FLIGHT + 1) × BLOCK_SIZE`` whatever the size. sha256 and MD5
  are computed on the way (in a thread: hashlib releases the GIL, so hashing overlaps the
  network). Only when the size and the sha256 equal the event's is the block list committed,
  with the content type, a sanitised ``Content-Disposition``, ``Content-MD5`` (the service
  checks no whole-file hash for block uploads; readers can) and metadata; otherwise nothing is
  committed.
* The row becomes ``transferred`` with its ``blob_path`` in the transaction that writes the
  ``document-verification`` message to the outbox, which is flushed after commit.

Outcomes: :class:`Processed`; :class:`Ignored` (superseded, already done); :class:`Failed` for
what can never succeed as sent (404 and other permanent answers, a redirect, a size or sha256
that disagrees, too large, a URL or address refused), recorded on the row with an alert;
:class:`RetryLater` for the portal's 5xx/429/timeouts/a stream cut mid-way, Blob Storage or
PostgreSQL unreachable, and the portal refusing our API key (with an alert: our credential
is wrong, the document must wait, not fail).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from shared import metrics, outbox
from shared.alerts import AlertSink
from shared.db import transaction
from shared.documents import store
from shared.documents.blobs import MAX_BLOCKS, DocumentBlobs, block_id, new_transfer_token
from shared.documents.download import DocumentDownloader
from shared.documents.messages import MalformedMessage, TransferRequest
from shared.documents.naming import blob_metadata, blob_name, content_disposition
from shared.documents.retrying import outcome_word, retry_or_park
from shared.documents.store import DocumentRow
from shared.errors import DependencyUnavailable, DocumentRefused, PortalRejected, TransientError
from shared.messaging import DOCUMENT_TRANSFERS, MessageSender
from shared.outcomes import Failed, Ignored, Outcome, Processed, RetryLater
from shared.portal_activity import CallOutcome, call_outcome
from shared.queued import QueuedMessage

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

BLOCK_SIZE = 4 * 1024 * 1024
MAX_IN_FLIGHT = 2

#: Portal answers to the download that mean "our API key", not "this document".
CREDENTIAL_STATUSES = frozenset({401, 403})

#: Ignored outcomes by the row's status (the sha256 matching the message's).
DONE_STATUSES: dict[str, str] = {
    "transferred": "already transferred",
    "verified": "already transferred and verified",
    "rejected": "already transferred (and rejected by verification)",
    "failed": "the document failed earlier; `ops documents retry` queues it again",
}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    key: str
    text: str


@dataclass(frozen=True, slots=True)
class PortalCall:
    """The download, for ``portal_activity_log``."""

    http_status: int | None
    duration_ms: int
    error: str | None
    outcome: CallOutcome = CallOutcome.SUCCEEDED


@dataclass(frozen=True, slots=True)
class TransferDecision:
    outcome: Outcome
    request: TransferRequest | None = None
    document: DocumentRow | None = None
    transferred_bytes: int = 0
    portal_call: PortalCall | None = None
    alert: Alert | None = None


class _Call:
    """Measures the one portal call of a transfer attempt (set while it runs)."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.status: int | None = None

    def result(self, error: BaseException | None) -> PortalCall | None:
        if self.started is None:
            return None
        status = self.status if error is None else getattr(error, "status_code", self.status)
        return PortalCall(
            http_status=status,
            duration_ms=int((time.perf_counter() - self.started) * 1000),
            error=str(error) if error is not None else None,
            outcome=call_outcome(error),
        )


async def _blocks(chunks: AsyncIterator[bytes], size: int, *, total: int) -> AsyncIterator[memoryview]:
    """Re-cut the download's chunks into blocks of ``size`` bytes (the last one shorter).

    Each block is filled in place in a buffer of its own (no list of pieces joined into a copy),
    sized for what is still expected: a 1 KB document never allocates a 4 MiB buffer.
    """
    remaining = total
    buffer, filled = bytearray(max(min(size, remaining), 1)), 0
    async for chunk in chunks:
        view = memoryview(chunk)
        while view:
            if filled == len(buffer):  # more than expected: let the caller's size check refuse it
                yield memoryview(buffer)
                buffer, filled = bytearray(size), 0
            take = min(len(view), len(buffer) - filled)
            buffer[filled : filled + take] = view[:take]
            filled += take
            view = view[take:]
            if filled == len(buffer) and remaining - filled > 0:
                remaining -= filled
                yield memoryview(buffer)
                buffer, filled = bytearray(min(size, remaining)), 0
    if filled:
        yield memoryview(buffer)[:filled]


def _hash(hashes: tuple[hashlib._Hash, ...], data: memoryview) -> None:
    for digest in hashes:
        digest.update(data)


class _BlockWriter:
    """Stages blocks of one blob, at most ``max_in_flight`` at a time, in order of their ids."""

    def __init__(self, blobs: DocumentBlobs, name: str, max_in_flight: int) -> None:
        self._blobs = blobs
        self._name = name
        self._token = new_transfer_token()
        self._max = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self.block_ids: list[str] = []

    async def stage(self, data: memoryview) -> None:
        while len(self._tasks) >= self._max:
            done, self._tasks = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the staging error, if any
        identifier = block_id(self._token, len(self.block_ids))
        self.block_ids.append(identifier)
        self._tasks.add(asyncio.create_task(self._blobs.stage(self._name, identifier, data)))

    async def drain(self) -> None:
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            await task

    async def abort(self) -> None:
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class DocumentTransfer:
    def __init__(
        self,
        *,
        db: AsyncConnectionPool,
        sender: MessageSender,
        blobs: DocumentBlobs,
        downloader: DocumentDownloader,
        alerter: AlertSink,
        max_bytes: int,
        block_size: int = BLOCK_SIZE,
        max_in_flight: int = MAX_IN_FLIGHT,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._sender = sender
        self._blobs = blobs
        self._downloader = downloader
        self._alerter = alerter
        self._max_bytes = max_bytes
        self._block_size = block_size
        self._max_in_flight = max_in_flight
        self._clock = clock

    async def handle(self, message: QueuedMessage) -> Outcome:
        """Transfer the document the message names and record the outcome; never raises for a
        document's fault or a dependency that is down (only a bug, or a failed re-send)."""
        decision = await self.decide(message)
        return await self._act(message, decision)

    # --- deciding (the transfer itself) ---------------------------------------------------

    async def decide(self, message: QueuedMessage) -> TransferDecision:
        try:
            request = TransferRequest.parse(message.body)
        except MalformedMessage as exc:
            return TransferDecision(Failed(f"malformed transfer message: {exc}"))
        try:
            document = await self._begin(request)
        except DependencyUnavailable as exc:
            return TransferDecision(RetryLater(str(exc), exc.retry_after), request)
        if isinstance(document, Ignored):
            return TransferDecision(document, request)
        call = _Call()
        error: BaseException | None = None
        alert: Alert | None = None
        transferred = 0
        try:
            outcome, transferred = await self._transfer(document, call)
        except TransientError as exc:
            error, outcome = exc, RetryLater(str(exc), exc.retry_after)
        except DocumentRefused as exc:
            error, outcome = exc, Failed(str(exc))
        except PortalRejected as exc:
            error = exc
            if exc.status_code in CREDENTIAL_STATUSES:
                outcome = RetryLater(f"the portal refuses our API key ({exc.status_code})")
                alert = Alert(
                    "portal_credentials_rejected",
                    "portal",
                    f"the portal answered {exc.status_code} to a document download with our API key "
                    "(refreshed once); check PORTAL_API_KEY / Key Vault",
                )
            elif exc.status_code == 404:
                outcome = Failed("the portal has no such document (404)")
            else:
                outcome = Failed(str(exc))
        return TransferDecision(outcome, request, document, transferred, call.result(error), alert)

    async def _begin(self, request: TransferRequest) -> DocumentRow | Ignored:
        """Load the row and count the attempt; or say why there is nothing to do."""
        async with transaction(self._db) as conn:
            document = await store.load(conn, request.document_id)
            if document is None:
                return Ignored("no such document (its candidate was deleted?)")
            if document.sha256 != request.sha256:
                return Ignored("superseded: the candidate uploaded a newer version of the document")
            if document.status in DONE_STATUSES:
                return Ignored(DONE_STATUSES[document.status])
            cursor = await conn.execute(store.BEGIN_ATTEMPT, {"id": document.id, "sha256": document.sha256})
            if await cursor.fetchone() is None:
                return Ignored("the document changed while the message was read")
        return document

    async def _transfer(self, document: DocumentRow, call: _Call) -> tuple[Outcome, int]:
        if document.size_bytes > self._max_bytes:
            raise DocumentRefused(
                f"declared size {document.size_bytes} bytes is above DOCUMENT_MAX_BYTES ({self._max_bytes})"
            )
        if not document.download_url:
            raise DocumentRefused("the document has no download_url")
        await self._blobs.ensure_container()
        name = blob_name(document.candidate_id, document.id, document.sha256)
        existing = await self._blobs.committed(name)
        if (
            existing is not None
            and existing.metadata.get("sha256") == document.sha256
            and existing.size == document.size_bytes
            and existing.content_md5 is not None
        ):
            metrics.increment("document_transfers_resumed")
            return await self._finish(document, name, existing.content_md5), 0
        md5 = await self._copy(document, name, call)
        return await self._finish(document, name, md5), document.size_bytes

    async def _copy(self, document: DocumentRow, name: str, call: _Call) -> bytes:
        """Stream the portal's bytes into staged blocks; commit only when size and sha256 agree."""
        assert document.download_url is not None
        sha256 = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)  # Content-MD5, an integrity check, not security
        block_size = max(self._block_size, -(-document.size_bytes // MAX_BLOCKS))
        writer = _BlockWriter(self._blobs, name, self._max_in_flight)
        received = 0
        call.started = time.perf_counter()
        try:
            async with self._downloader.open(
                document.download_url, expected_size=document.size_bytes, max_bytes=self._max_bytes
            ) as opened:
                call.status = 200
                async for block in _blocks(opened.chunks, block_size, total=document.size_bytes):
                    await asyncio.to_thread(_hash, (sha256, md5), block)
                    received += len(block)
                    await writer.stage(block)
            await writer.drain()
        except BaseException:
            await writer.abort()
            raise
        if received != document.size_bytes:
            raise DocumentRefused(
                f"the portal sent {received} bytes, the event declared {document.size_bytes}"
            )
        if sha256.hexdigest() != document.sha256:
            raise DocumentRefused("the sha256 of the bytes the portal sent differs from the event's")
        await self._blobs.commit(
            name,
            writer.block_ids,
            content_type=document.content_type,
            content_disposition=content_disposition(document.file_name),
            content_md5=md5.digest(),
            metadata=blob_metadata(
                document_id=document.id,
                portal_document_id=document.portal_document_id,
                portal_candidate_id=document.portal_candidate_id,
                sha256=document.sha256,
                kind=document.kind,
            ),
        )
        return md5.digest()

    async def _finish(self, document: DocumentRow, name: str, md5: bytes) -> Outcome:
        async with transaction(self._db) as conn:
            cursor = await conn.execute(
                store.MARK_TRANSFERRED,
                {
                    "id": document.id,
                    "sha256": document.sha256,
                    "blob_path": name,
                    "content_md5": base64.b64encode(md5).decode(),
                },
            )
            marked = await cursor.fetchone() is not None
            current = None if marked else await store.load(conn, document.id)
        if not marked:
            # The bytes of a superseded version stay under their own sha256 name (nothing else
            # is ever written there); the row belongs to the newer version now.
            if current is None:
                return Ignored("the document was deleted during the transfer")
            if current.sha256 != document.sha256:
                return Ignored("superseded during the transfer: a newer version was uploaded")
            return Ignored(DONE_STATUSES.get(current.status, f"now {current.status}"))
        try:
            await outbox.flush(self._db, self._sender)
        except DependencyUnavailable:
            log.warning("outbox flush after a transfer failed; the outbox relay will send it")
        return Processed()

    # --- acting (recording the outcome) ----------------------------------------------------

    async def _act(self, message: QueuedMessage, decision: TransferDecision) -> Outcome:
        outcome = decision.outcome
        document = decision.document
        if isinstance(outcome, Failed) and document is not None:
            try:
                await self._record_failure(document, outcome)
            except DependencyUnavailable as exc:
                # The failure cannot be written now: try the whole message again later.
                outcome = RetryLater(f"{outcome.reason}; not recorded: {exc}")
        if decision.portal_call is not None and document is not None:
            await self._log_call(document, decision.portal_call)
        if decision.alert is not None:
            await self._alerter.raise_alert(decision.alert.kind, decision.alert.key, decision.alert.text)
        if isinstance(outcome, RetryLater):
            if decision.request is not None:
                await self._note(decision.request, outcome.reason)
            await retry_or_park(
                db=self._db,
                sender=self._sender,
                alerter=self._alerter,
                queue=DOCUMENT_TRANSFERS,
                message=message,
                outcome=outcome,
                now=self._clock(),
            )
        _report(message, decision, outcome)
        return outcome

    async def _record_failure(self, document: DocumentRow, outcome: Failed) -> None:
        async with transaction(self._db) as conn:
            cursor = await conn.execute(
                store.MARK_FAILED, {"id": document.id, "sha256": document.sha256, "reason": outcome.reason}
            )
            marked = await cursor.fetchone() is not None
        if marked:
            await self._alerter.raise_alert(
                "document_failed",
                document.id,
                f"document {document.id} ({document.portal_document_id}) failed: {outcome.reason}",
            )

    async def _note(self, request: TransferRequest, reason: str) -> None:
        """Keep the last transient error on the row for an operator (best effort)."""
        with contextlib.suppress(DependencyUnavailable):
            async with transaction(self._db) as conn:
                await conn.execute(
                    store.NOTE_ERROR, {"id": request.document_id, "sha256": request.sha256, "reason": reason}
                )

    async def _log_call(self, document: DocumentRow, call: PortalCall) -> None:
        """One ``portal_activity_log`` row for the download, in the words of every portal call
        (:class:`~shared.portal_activity.CallOutcome`)."""
        with contextlib.suppress(DependencyUnavailable):
            async with transaction(self._db) as conn:
                await conn.execute(
                    store.LOG_DOWNLOAD,
                    {
                        "entity_id": document.portal_document_id,
                        "outcome": call.outcome.value,
                        "http_status": call.http_status,
                        "duration_ms": call.duration_ms,
                        "error": call.error,
                    },
                )


def _report(message: QueuedMessage, decision: TransferDecision, outcome: Outcome) -> None:
    word = outcome_word(outcome)
    metrics.increment("document_transfers", outcome=word)
    document_id = decision.request.document_id if decision.request is not None else "-"
    if isinstance(outcome, Processed):
        metrics.increment("document_bytes_transferred", decision.transferred_bytes)
        log.info("document %s transferred (%d bytes downloaded)", document_id, decision.transferred_bytes)
    elif isinstance(outcome, Failed):
        log.warning(
            "document transfer %s (message %s) failed: %s", document_id, message.message_id, outcome.reason
        )
    else:
        log.info("document transfer %s %s: %s", document_id, word, getattr(outcome, "reason", ""))
