"""Drive the document flows against real services: upload through the receiver and the processor,
then run ``document-transfers`` and ``document-verification`` through their handlers, message by
message, and read back rows, blobs and alerts."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

from azure.storage.blob.aio import BlobServiceClient

from portal_simulator.testing import RunningSimulator
from shared.alerts import Alerter
from shared.messaging import DOCUMENT_TRANSFERS, DOCUMENT_VERIFICATION
from shared.outcomes import Outcome
from shared.queued import QueuedMessage
from shared.runtime import Runtime
from tests.support.pipeline import Pipeline


class RecordingAlerts(Alerter):
    """The app's alerter (counted and logged, no webhook), keeping what was raised."""

    def __init__(self) -> None:
        super().__init__(None)
        self.raised: list[tuple[str, str, str]] = []

    async def raise_alert(self, kind: str, key: str, text: str) -> None:
        self.raised.append((kind, key, text))
        await super().raise_alert(kind, key, text)

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.raised]


def recording_alerts(runtime: Runtime) -> RecordingAlerts:
    """Replace the runtime's alerter before the document handlers are built."""
    alerts = RecordingAlerts()
    runtime.__dict__["alerter"] = alerts
    return alerts


class Documents:
    def __init__(self, pipeline: Pipeline, portal: RunningSimulator, runtime: Runtime | None = None) -> None:
        self.pipeline = pipeline
        self.portal = portal
        self.runtime = runtime or pipeline.runtime

    async def upload(self, candidate: str | None = None, **spec: Any) -> dict[str, Any]:
        """A ``document.uploaded`` from the simulator, received and processed: the row is pending
        and the transfer message is queued. ``spec`` is the admin API's ``document`` option."""
        (item,) = await self.portal.admin.generate_events(
            "document.uploaded", deliver=False, candidate=candidate, document=spec or None
        )
        event = item["event"]
        answer = await self.pipeline.post(event)
        assert answer.status == 202, answer
        await self.pipeline.drain()
        return dict(event["data"]["document"])

    def content(self, document: dict[str, Any]) -> bytes:
        stored = self.portal.state.documents[document["id"]]
        return b"".join(stored.file.chunks())

    async def received(self, queue: str) -> list[QueuedMessage]:
        received = await self.pipeline.receiver.receive(queue, 100, timedelta(seconds=120))
        await self.pipeline.receiver.complete(received)
        return [
            QueuedMessage(
                body=m.body,
                message_id=m.message_id,
                application_properties=dict(m.application_properties),
                delivery_count=m.delivery_count,
                enqueued_time=m.enqueued_time,
            )
            for m in received
        ]

    async def transfer(self, *, due: bool = True) -> list[Outcome]:
        """Handle every visible transfer message once (re-sent ones made due first)."""
        if due:
            self.make_due(DOCUMENT_TRANSFERS)
        return [
            await self.runtime.document_transfer.handle(m) for m in await self.received(DOCUMENT_TRANSFERS)
        ]

    async def verify(self, *, due: bool = True) -> list[Outcome]:
        if due:
            self.make_due(DOCUMENT_VERIFICATION)
        return [
            await self.runtime.document_verification.handle(m)
            for m in await self.received(DOCUMENT_VERIFICATION)
        ]

    async def settle(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            if not (await self.transfer()) + (await self.verify()):
                return

    def make_due(self, queue: str) -> None:
        """Skip the backoff of re-sent messages (the tests do not wait for it)."""
        self.pipeline.rows(
            "UPDATE devhost.messages SET visible_at = now() WHERE queue = %s AND lock_token IS NULL "
            "RETURNING sequence_number",
            queue,
        )

    async def queued(self, queue: str) -> list[dict[str, Any]]:
        return await self.pipeline.queued(queue)

    def row(self, document: dict[str, Any]) -> dict[str, Any]:
        rows = self.pipeline.rows(
            "SELECT d.*, d.candidate_id::text AS candidate, d.id::text AS uuid FROM candidate_documents d "
            "WHERE portal_document_id = %s",
            document["id"],
        )
        assert len(rows) == 1, rows
        return rows[0]

    def blob_name(self, document: dict[str, Any]) -> str:
        row = self.row(document)
        return f"{row['candidate']}/{row['uuid']}/{document['sha256']}"

    async def blobs(self) -> dict[str, Any]:
        """Every committed blob of the documents container: name → properties."""
        container = self.runtime.blobs.get_container_client(self.runtime.settings.documents_container)
        if not await container.exists():
            return {}
        return {blob.name: blob async for blob in container.list_blobs(include=["metadata"])}

    async def blob_bytes(self, name: str) -> bytes:
        client = self.runtime.blobs.get_blob_client(self.runtime.settings.documents_container, name)
        return bytes(await (await client.download_blob()).readall())

    async def blob_properties(self, name: str) -> Any:
        client = self.runtime.blobs.get_blob_client(self.runtime.settings.documents_container, name)
        return await client.get_blob_properties()

    def downloads(self) -> dict[str, int]:
        """The simulator's answers to ``GET /v1/documents/{id}/content`` by status."""
        stats = self.portal.state.stats_snapshot()["requests"]
        return dict(stats.get("GET /v1/documents/{doc_id}/content", {}).get("by_status", {}))


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


async def blob_service(connection_string: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(connection_string)
