"""The composition root: the one place where real adapters are built, once per worker.

Azure Functions runs ``async def`` functions on one event loop per worker process, so pools and
clients are created lazily on first use inside that loop and then shared by every invocation.
Tests build their own :class:`Runtime` from a settings mapping with :meth:`Runtime.start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

import httpx
import redis.asyncio as aioredis
from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry
from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.alerts import Alerter
from shared.circuit_breaker import CircuitBreaker
from shared.db import create_pool
from shared.documents.addresses import AddressPolicy
from shared.documents.blobs import DocumentBlobs
from shared.documents.download import DocumentDownloader
from shared.documents.scan import Scanner, create_scanner
from shared.documents.transfer import DocumentTransfer
from shared.documents.transport import PinnedTransport
from shared.documents.verify import DocumentVerification
from shared.errors import ConfigurationError, IntegrationError
from shared.health.alert_state import AlertStore, RedisDedupe
from shared.health.breaker import BreakerReader
from shared.health.collect import HealthSources
from shared.health.conditions import Thresholds
from shared.health.counts import MinuteCounts
from shared.health.instruments import shared_instruments
from shared.health.queues import QueueDepths, create_queue_depths
from shared.health.watch import HealthWatch
from shared.inbound.bulk_import import BulkImporter
from shared.inbound.processor import EventProcessor
from shared.inbound.receiver import WebhookReceiver
from shared.messaging import MessageSender, create_message_sender
from shared.outbound.dispatcher import SyncDispatcher
from shared.outbound.timer_budget import budget_seconds
from shared.portal_activity import PgActivityLog
from shared.portal_client import PortalClient
from shared.recovery.retention import Retention
from shared.redis_store import ProcessedEvents, create_redis
from shared.rules import ScoringRules
from shared.secrets import SecretStore, create_secret_store
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)


def create_blob_service(settings: Settings) -> BlobServiceClient:
    """Connection string locally (Azurite); ``DocumentsStorage__serviceUri`` + identity in Azure."""
    # The SDK's default retries wait 15 s, 18 s, 24 s: a function must not sit in them while
    # Blob Storage is away; it re-sends its message with DESIGN.md's backoff instead.
    options: dict[str, Any] = {
        "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2),
        "connection_timeout": 5,
        "read_timeout": 30,
    }
    if settings.documents_storage:
        try:
            return BlobServiceClient.from_connection_string(settings.documents_storage, **options)
        except ValueError:
            # The SDK's message may quote the connection string; name the setting instead.
            raise ConfigurationError(
                "DocumentsStorage: the Azure Storage SDK cannot use this connection string "
                "(check BlobEndpoint/AccountName and the key or SAS)"
            ) from None
    from azure.identity.aio import DefaultAzureCredential

    assert settings.documents_storage_service_uri is not None  # guaranteed by Settings validation
    return BlobServiceClient(
        settings.documents_storage_service_uri, credential=DefaultAzureCredential(), **options
    )


@dataclass
class Runtime:
    """Everything a handler needs, built once; the handlers themselves are built on first use."""

    settings: Settings
    db: AsyncConnectionPool
    redis: aioredis.Redis
    processed: ProcessedEvents
    sender: MessageSender
    secrets: SecretStore
    blobs: BlobServiceClient
    portal_http: httpx.AsyncClient

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        """Build every adapter; if one fails half-way, close those already built and re-raise.

        Without that, a worker whose later adapter cannot be built (a malformed connection
        string, a credential that cannot be created) would leak a PostgreSQL pool on every
        request that tries to start it again.
        """
        async with contextlib.AsyncExitStack() as opened:
            db = await create_pool(settings.database_url, auth=settings.database_auth)
            opened.push_async_callback(db.close)
            redis_client = create_redis(settings.redis_url, auth=settings.redis_auth)
            opened.push_async_callback(redis_client.aclose)
            sender = await create_message_sender(settings)
            opened.push_async_callback(sender.close)
            secrets = create_secret_store(settings)
            opened.push_async_callback(secrets.close)
            blobs = create_blob_service(settings)
            opened.push_async_callback(blobs.close)
            portal_http = httpx.AsyncClient(
                base_url=settings.portal_base_url,
                timeout=httpx.Timeout(settings.portal_timeout_seconds),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            )
            runtime = cls(
                settings=settings,
                db=db,
                redis=redis_client,
                processed=ProcessedEvents(redis_client, settings.redis_key_prefix),
                sender=sender,
                secrets=secrets,
                blobs=blobs,
                portal_http=portal_http,
            )
            opened.pop_all()  # built: from now on Runtime.close owns them
        runtime.counts  # noqa: B018 (subscribes the shared per-minute counts now, not on first read)
        return runtime

    @cached_property
    def portal_breaker(self) -> CircuitBreaker:
        """The one breaker of every portal call (PortalClient and the document downloads)."""
        return CircuitBreaker(
            self.redis,
            self.settings.redis_key_prefix,
            failure_threshold=self.settings.circuit_failure_threshold,
            cooldown_seconds=self.settings.circuit_cooldown_seconds,
        )

    @cached_property
    def portal(self) -> PortalClient:
        return PortalClient(
            self.portal_http,
            self.secrets,
            self.portal_breaker,
            activity=PgActivityLog(self.db),
            alerter=self.alerter,
        )

    @cached_property
    def dispatcher(self) -> SyncDispatcher:
        return SyncDispatcher(
            db=self.db,
            portal=self.portal,
            alerter=self.alerter,
            sender=self.sender,
            lease_seconds=self.settings.sync_lease_seconds,
        )

    @cached_property
    def replay_budget_seconds(self) -> float:
        """How long one replay run may claim work: most of its timer's interval."""
        return budget_seconds(self.settings.sync_replay_schedule)

    @cached_property
    def address_policy(self) -> AddressPolicy:
        """Where document downloads may connect (tests replace it to inject a resolver)."""
        return AddressPolicy.for_portal(self.settings.portal_base_url)

    @cached_property
    def documents_http(self) -> httpx.AsyncClient:
        """A client of its own for document downloads: its transport connects only to the
        address it checked (closed in :meth:`close` when it was built)."""
        return httpx.AsyncClient(
            transport=PinnedTransport(self.address_policy),
            timeout=httpx.Timeout(self.settings.portal_timeout_seconds),
            follow_redirects=False,
        )

    @cached_property
    def document_downloader(self) -> DocumentDownloader:
        async def probe() -> bool:
            try:
                await self.portal.health()
            except IntegrationError:
                return False
            return True

        return DocumentDownloader(
            self.documents_http,
            self.secrets,
            breaker=self.portal_breaker,
            probe=probe,
            portal_base_url=self.settings.portal_base_url,
        )

    @cached_property
    def document_blobs(self) -> DocumentBlobs:
        return DocumentBlobs(self.blobs, self.settings.documents_container)

    @cached_property
    def document_scanner(self) -> Scanner:
        return create_scanner(
            self.settings.document_scan_command, self.settings.document_scan_url, self.portal_http
        )

    @cached_property
    def document_transfer(self) -> DocumentTransfer:
        return DocumentTransfer(
            db=self.db,
            sender=self.sender,
            blobs=self.document_blobs,
            downloader=self.document_downloader,
            alerter=self.alerter,
            max_bytes=self.settings.document_max_bytes,
        )

    @cached_property
    def document_verification(self) -> DocumentVerification:
        return DocumentVerification(
            db=self.db,
            sender=self.sender,
            blobs=self.document_blobs,
            alerter=self.alerter,
            scanner=self.document_scanner,
        )

    @cached_property
    def alerter(self) -> Alerter:
        return Alerter(
            self.settings.alert_webhook_url,
            alert_format=self.settings.alert_format,
            store=self.alert_store,
            dedupe=RedisDedupe(self.redis, self.settings.redis_key_prefix, remind_after=self._remind_after),
            remind_after=self._remind_after,
        )

    @property
    def _remind_after(self) -> timedelta:
        return timedelta(hours=self.settings.alert_remind_hours)

    @cached_property
    def alert_store(self) -> AlertStore:
        return AlertStore(self.db)

    @cached_property
    def counts(self) -> MinuteCounts:
        """Deliveries' counts shared by every instance (Redis per minute), fed by shared.metrics."""
        counts = MinuteCounts(self.redis, self.settings.redis_key_prefix)
        with contextlib.suppress(RuntimeError):  # built outside a loop: writes wait for one
            counts.bind(asyncio.get_running_loop())
        self._unsubscribe_counts = metrics.subscribe(
            f"minute-counts:{self.settings.redis_url}:{self.settings.redis_key_prefix}", counts.record
        )
        return counts

    @cached_property
    def queue_depths(self) -> QueueDepths:
        from shared.messaging.pg_queue import PgQueueSender

        pool = self.sender.pool if isinstance(self.sender, PgQueueSender) else None
        return create_queue_depths(self.settings, pool=pool)

    @cached_property
    def health_sources(self) -> HealthSources:
        return HealthSources(
            db=self.db,
            counts=self.counts,
            depths=self.queue_depths,
            breaker=BreakerReader(
                self.redis,
                self.settings.redis_key_prefix,
                cooldown_seconds=self.settings.circuit_cooldown_seconds,
            ),
        )

    @cached_property
    def retention(self) -> Retention:
        return Retention(self.db, days=self.settings.payload_retention_days)

    @cached_property
    def health_watch(self) -> HealthWatch:
        s = self.settings
        return HealthWatch(
            sources=self.health_sources,
            alerter=self.alerter,
            store=self.alert_store,
            thresholds=Thresholds(
                success_rate_min=s.alert_success_rate_min,
                min_events=s.alert_min_events,
                p99_latency_seconds=s.alert_p99_latency_seconds,
                signature_failures=s.alert_signature_failures,
                sync_due_seconds=s.alert_sync_due_seconds,
            ),
            instruments=shared_instruments(),
        )

    @cached_property
    def receiver(self) -> WebhookReceiver:
        return WebhookReceiver(
            settings=self.settings,
            secrets=self.secrets,
            processed=self.processed,
            sender=self.sender,
            db=self.db,
        )

    @cached_property
    def importer(self) -> BulkImporter:
        return BulkImporter(
            settings=self.settings,
            signatures=self.receiver.signatures,
            processed=self.processed,
            sender=self.sender,
            db=self.db,
        )

    @cached_property
    def processor(self) -> EventProcessor:
        return EventProcessor(
            db=self.db,
            sender=self.sender,
            processed=self.processed,
            portal=self.portal,
            alerter=self.alerter,
            rules=ScoringRules.from_settings(
                score_bands=self.settings.score_bands,
                pass_marks=self.settings.pass_marks,
                stage_rules=self.settings.stage_rules,
            ),
            portal_base_url=self.settings.portal_base_url,
        )

    @classmethod
    async def from_environ(cls, environ: Mapping[str, str]) -> Runtime:
        return await cls.start(load_settings(environ))

    async def close(self) -> None:
        if "alerter" in self.__dict__:  # built: let its background posts finish first
            await self.alerter.close()
        if "counts" in self.__dict__:
            self._unsubscribe_counts()
            await self.counts.flush()
        if "queue_depths" in self.__dict__:
            with contextlib.suppress(Exception):
                await self.queue_depths.close()
        if "documents_http" in self.__dict__:
            try:
                await self.documents_http.aclose()
            except Exception:
                log.warning("closing the documents client failed", exc_info=True)
        for closer in (
            self.portal_http.aclose,
            self.blobs.close,
            self.secrets.close,
            self.sender.close,
            self.redis.aclose,
            self.db.close,
        ):
            try:
                await closer()
            except Exception:  # closing is best effort; one failure must not leak the others
                log.warning("closing %s failed", getattr(closer, "__qualname__", closer), exc_info=True)


_runtime: Runtime | None = None
_lock: asyncio.Lock | None = None


async def get_runtime() -> Runtime:
    """The worker's runtime, built on first use from ``os.environ``."""
    global _runtime, _lock
    if _runtime is not None:
        return _runtime
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _runtime is None:
            from shared.settings import get_settings

            _runtime = await Runtime.start(get_settings())
            log.info("worker runtime started")
    return _runtime


async def close_runtime() -> None:
    """Close the worker's runtime and forget it (and the settings it was built from).

    Used when a worker shuts down cleanly and by tests that start the app several times in one
    process with different settings.
    """
    global _runtime
    runtime, _runtime = _runtime, None
    from shared.settings import get_settings

    get_settings.cache_clear()
    if runtime is not None:
        await runtime.close()
