"""``POST /api/portal/candidates/import``: the portal's signed NDJSON bulk load of profiles.

Contract, "Bulk profile import": each line is a full ``candidate.created/updated`` envelope; the
request is signed like a webhook (its ``webhook-id`` is the batch id); at most
``IMPORT_MAX_LINES`` lines and ``IMPORT_MAX_BYTES`` bytes (413 beyond); a single line over the
webhook body limit is reported ``invalid`` and the rest are taken; a line is ``duplicate`` when
its event was already processed or stands earlier in the batch; if any valid line cannot be
queued the answer is 503 and the portal sends the whole batch again (lines deduplicate by event
id). Otherwise 200 with one report entry per line, in order. Blank lines are skipped (a trailing
newline is not a line).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.contract.envelope import MalformedDelivery, parse_import_line
from shared.contract.signature import SignatureRejected
from shared.db import transaction
from shared.errors import DependencyUnavailable, FieldError, MessageTooLarge, ValidationFailed
from shared.inbound.answers import SECRETS_UNAVAILABLE, Answer
from shared.inbound.receiver import (
    EVENT_TYPE,
    RECEIVED_AT,
    SOURCE,
    SignatureCheck,
    invalid_rejection,
    malformed_rejection,
    too_large,
)
from shared.inbound.rejections import Rejection, record_rejection_metrics, store_rejections
from shared.messaging import PORTAL_EVENTS, MessageSender, OutboundMessage
from shared.redis_store import ProcessedEvents, RedisUnavailable
from shared.settings import Settings
from shared.telemetry import trace_properties

log = logging.getLogger(__name__)

ENDPOINT = "import"
SEND_CHUNK = 100


@dataclass(slots=True)
class _Line:
    number: int
    raw: bytes
    event_id: str | None = None
    event_type: str | None = None
    status: str = "accepted"
    errors: tuple[FieldError, ...] = ()

    def report(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"line": self.number, "event_id": self.event_id, "status": self.status}
        if self.errors:
            entry["errors"] = [error.as_dict() for error in self.errors]
        return entry


class BulkImporter:
    def __init__(
        self,
        *,
        settings: Settings,
        signatures: SignatureCheck,
        processed: ProcessedEvents,
        sender: MessageSender,
        db: AsyncConnectionPool,
    ) -> None:
        self._settings = settings
        self._signatures = signatures
        self._processed = processed
        self._sender = sender
        self._db = db

    async def receive(self, headers: Mapping[str, str], body: bytes) -> Answer:
        limit = self._settings.import_max_bytes
        batch_id = headers.get("webhook-id")
        if too_large(headers, body, limit):
            return self._refuse(413, "body_too_large", batch_id, f"import larger than {limit} bytes")
        try:
            await self._signatures.verify(headers, body)
        except SignatureRejected as rejected:
            return self._refuse(
                401, rejected.reason.value, batch_id, f"signature rejected: {rejected.reason.value}"
            )
        except DependencyUnavailable:
            log.error("bulk import %s: webhook secrets unavailable; answering 503", batch_id)
            return SECRETS_UNAVAILABLE
        lines = [_Line(n, raw.strip()) for n, raw in enumerate(body.split(b"\n"), start=1) if raw.strip()]
        if len(lines) > self._settings.import_max_lines:
            return self._refuse(
                413,
                "too_many_lines",
                batch_id,
                f"import has {len(lines)} lines; at most {self._settings.import_max_lines}",
            )
        rejections = [r for line in lines if (r := self._check(line)) is not None]
        await self._mark_already_processed([line for line in lines if line.status == "accepted"])
        accepted = [line for line in lines if line.status == "accepted"]
        try:
            if rejections:
                await store_rejections(self._db, rejections)
            await self._queue(accepted, batch_id)
        except DependencyUnavailable:
            log.error("bulk import %s: could not queue %d lines; answering 503", batch_id, len(accepted))
            metrics.increment("imports_unqueued")
            return Answer.problem(
                503,
                "the import could not be queued; send the whole batch again",
                headers={"Retry-After": "10"},
            )
        except MessageTooLarge:
            return self._refuse(413, "queue_refused_size", batch_id, "a line is too large for the queue")
        counts = {
            status: sum(1 for line in lines if line.status == status)
            for status in ("accepted", "duplicate", "invalid")
        }
        metrics.increment("import_lines", counts["accepted"], status="accepted")
        metrics.increment("import_lines", counts["duplicate"], status="duplicate")
        metrics.increment("import_lines", counts["invalid"], status="invalid")
        log.info(
            "bulk import %s: %d lines, %d accepted, %d duplicates, %d invalid",
            batch_id,
            len(lines),
            counts["accepted"],
            counts["duplicate"],
            counts["invalid"],
        )
        return Answer.json(
            200,
            {
                "batch_id": batch_id,
                "accepted": counts["accepted"],
                "duplicates": counts["duplicate"],
                "invalid": counts["invalid"],
                "results": [line.report() for line in lines],
            },
        )

    def _refuse(self, status: int, reason: str, batch_id: str | None, detail: str) -> Answer:
        record_rejection_metrics(Rejection(status, reason, batch_id), endpoint=ENDPOINT)
        return Answer.problem(status, detail)

    def _check(self, line: _Line) -> Rejection | None:
        """Validate one line; mark it invalid and return its rejection record when it fails."""
        max_line = self._settings.webhook_max_body_bytes
        if len(line.raw) > max_line:
            line.status, line.errors = "invalid", (FieldError("", f"line larger than {max_line} bytes"),)
            return self._line_rejection(line, Rejection(413, "line_too_large", errors=line.errors))
        try:
            envelope, _ = parse_import_line(line.raw, portal_base_url=self._settings.portal_base_url)
        except MalformedDelivery as exc:
            line.event_id, line.event_type = exc.event_id, exc.event_type
            line.status, line.errors = "invalid", exc.errors or (FieldError("", exc.detail),)
            rejection = malformed_rejection(exc, line.raw, line.event_id)
            return self._line_rejection(line, replace(rejection, errors=line.errors))
        except ValidationFailed as exc:
            line.event_id = getattr(exc, "event_id", None)
            line.event_type = getattr(exc, "event_type", None)
            line.status, line.errors = "invalid", exc.errors
            return self._line_rejection(line, invalid_rejection(exc, line.raw, line.event_id))
        line.event_id, line.event_type = envelope.id, envelope.type
        return None

    def _line_rejection(self, line: _Line, rejection: Rejection) -> Rejection:
        rejection = replace(rejection, event_id=line.event_id, event_type=line.event_type)
        record_rejection_metrics(rejection, endpoint=ENDPOINT)
        return rejection

    async def _mark_already_processed(self, lines: list[_Line]) -> None:
        """Duplicates: earlier in the batch, or already processed (database first, then Redis)."""
        seen: set[str] = set()
        for line in lines:
            assert line.event_id is not None
            if line.event_id in seen:
                line.status = "duplicate"
            seen.add(line.event_id)
        ids = [line.event_id for line in lines if line.status == "accepted" and line.event_id is not None]
        if not ids:
            return
        done: set[str] = set()
        try:
            async with transaction(self._db) as conn:
                cursor = await conn.execute(
                    "SELECT event_id FROM webhook_events WHERE event_id = ANY(%s) AND processed", (ids,)
                )
                done = {row[0] for row in await cursor.fetchall()}
        except DependencyUnavailable:
            for event_id in ids:
                try:
                    if await self._processed.is_processed(event_id):
                        done.add(event_id)
                except RedisUnavailable:
                    break
        for line in lines:
            if line.status == "accepted" and line.event_id in done:
                line.status = "duplicate"

    async def _queue(self, lines: list[_Line], batch_id: str | None) -> None:
        received_at = datetime.now(UTC).isoformat()
        messages = [
            OutboundMessage(
                body=line.raw,
                message_id=line.event_id or "",
                application_properties={
                    RECEIVED_AT: received_at,
                    EVENT_TYPE: line.event_type or "",
                    SOURCE: f"import:{batch_id}",
                    **trace_properties(),  # each line's trace continues in the processor
                },
            )
            for line in lines
        ]
        for start in range(0, len(messages), SEND_CHUNK):
            await self._sender.send(PORTAL_EVENTS, messages[start : start + SEND_CHUNK])
