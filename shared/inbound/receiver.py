"""The webhook receiver's core: check a delivery in the contract's order, queue it, answer.

Order (portal-contract.md): 413 on ``Content-Length`` then on the bytes read, 401 (signature,
timestamp window; one secret refresh first, so a rotation loses nothing), 400 (malformed), 422
(data fails validation). Then the Redis fast path answers 200 for an event already processed
(skipped when Redis is down), and otherwise the event goes to ``portal-events`` with
``message_id`` = event id and the receive time as a property. 202 is answered only after the
send is confirmed: 503 if it cannot be, 413 if the queue refuses it for its size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from shared import metrics
from shared.contract.envelope import ConsentMissing, MalformedDelivery, MalformedReason, parse_event
from shared.contract.signature import (
    SignatureFailure,
    SignatureRejected,
    WebhookSecret,
    parse_webhook_secrets,
    verify_signature,
)
from shared.errors import DependencyUnavailable, FieldError, MessageTooLarge, ValidationFailed
from shared.inbound.answers import ACCEPTED, ALREADY_PROCESSED, SECRETS_UNAVAILABLE, Answer
from shared.inbound.rejections import Rejection, record_rejection_metrics, store_rejections
from shared.messaging import PORTAL_EVENTS, MessageSender, OutboundMessage
from shared.redis_store import ProcessedEvents, RedisUnavailable
from shared.secrets import PORTAL_WEBHOOK_SECRETS, SecretStore
from shared.settings import Settings
from shared.telemetry import trace_properties

log = logging.getLogger(__name__)

#: Application properties on every queued event.
RECEIVED_AT = "received_at"
EVENT_TYPE = "event_type"
SOURCE = "source"

ENDPOINT = "webhooks"


class WebhookSecrets:
    """Decoded secrets, re-parsed only when the configured text changes (hot path)."""

    def __init__(self, store: SecretStore) -> None:
        self._store = store
        self._text: str | None = None
        self._parsed: tuple[WebhookSecret, ...] = ()

    async def current(self) -> tuple[WebhookSecret, ...]:
        text = await self._store.get(PORTAL_WEBHOOK_SECRETS)
        if text != self._text:
            self._parsed = parse_webhook_secrets(text)
            self._text = text
        return self._parsed

    async def refresh(self) -> bool:
        """Re-read the secrets (rate-limited to once a minute by the store); True if re-read."""
        return await self._store.refresh(PORTAL_WEBHOOK_SECRETS)


class SignatureCheck:
    def __init__(self, secrets: WebhookSecrets, tolerance_seconds: float, clock: Callable[[], float]) -> None:
        self._secrets = secrets
        self._tolerance = tolerance_seconds
        self._clock = clock

    async def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise :class:`SignatureRejected` unless a signature matches; refresh secrets once first.

        Headers are looked up by lower-case name (shells normalise them).
        """
        try:
            self._verify(await self._secrets.current(), headers, body)
        except SignatureRejected as rejected:
            if (
                rejected.reason is not SignatureFailure.NO_MATCHING_SIGNATURE
                or not await self._secrets.refresh()
            ):
                raise
            self._verify(await self._secrets.current(), headers, body)

    def _verify(self, secrets: tuple[WebhookSecret, ...], headers: Mapping[str, str], body: bytes) -> None:
        verify_signature(
            secrets=secrets,
            webhook_id=headers.get("webhook-id"),
            webhook_timestamp=headers.get("webhook-timestamp"),
            signature_header=headers.get("webhook-signature"),
            body=body,
            now=self._clock(),
            tolerance_seconds=self._tolerance,
        )


def too_large(headers: Mapping[str, str], body: bytes, limit: int) -> bool:
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        return True
    return len(body) > limit


def malformed_rejection(malformed: MalformedDelivery, body: bytes, event_id: str | None) -> Rejection:
    """The trace of a 400: the body is kept, as JSON when it decoded as an object PostgreSQL
    can hold, else as text."""
    return Rejection(
        400,
        f"malformed:{malformed.reason.value}",
        event_id,
        malformed.event_type,
        malformed.errors,
        body,
        as_json=malformed.reason is not MalformedReason.NOT_JSON and not malformed.refused_by_jsonb,
    )


def invalid_rejection(invalid: ValidationFailed, body: bytes, event_id: str | None) -> Rejection:
    """The trace of a 422: the body is kept unless the failure is a missing consent."""
    consent = isinstance(invalid, ConsentMissing)
    return Rejection(
        422,
        "consent_missing" if consent else "invalid_data",
        event_id,
        getattr(invalid, "event_type", None),
        invalid.errors,
        None if consent else body,
        as_json=not getattr(invalid, "refused_by_jsonb", False),
    )


class WebhookReceiver:
    """``POST /api/portal/webhooks``: everything between the bytes and the answer."""

    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        processed: ProcessedEvents,
        sender: MessageSender,
        db: AsyncConnectionPool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._processed = processed
        self._sender = sender
        self._db = db
        self._clock = clock
        self.signatures = SignatureCheck(WebhookSecrets(secrets), settings.webhook_tolerance_seconds, clock)

    async def receive(self, headers: Mapping[str, str], body: bytes) -> Answer:
        limit = self._settings.webhook_max_body_bytes
        if too_large(headers, body, limit):
            return await self._reject(
                Rejection(413, "body_too_large", headers.get("webhook-id")),
                store=False,
                detail=f"body larger than {limit} bytes",
            )
        try:
            await self.signatures.verify(headers, body)
        except SignatureRejected as rejected:
            return await self._reject(
                Rejection(401, rejected.reason.value, headers.get("webhook-id")),
                store=False,
                detail=f"signature rejected: {rejected.reason.value}",
            )
        except DependencyUnavailable:
            # The secrets could not be read at all (Key Vault down before the first fetch):
            # the signature is unknown, not wrong, so the portal must try again.
            log.error("webhook secrets unavailable: answering 503 so the portal retries")
            return SECRETS_UNAVAILABLE
        webhook_id = headers["webhook-id"]
        try:
            envelope, _ = parse_event(
                body,
                content_type=headers.get("content-type"),
                webhook_id=webhook_id,
                portal_base_url=self._settings.portal_base_url,
            )
        except MalformedDelivery as malformed:
            return await self._reject(
                malformed_rejection(malformed, body, malformed.event_id or webhook_id), detail=str(malformed)
            )
        except ValidationFailed as invalid:
            return await self._reject(invalid_rejection(invalid, body, webhook_id), detail=str(invalid))

        try:
            if await self._processed.is_processed(envelope.id):
                metrics.increment("deliveries_already_processed")
                return ALREADY_PROCESSED
        except RedisUnavailable:
            metrics.increment("redis_fast_path_skipped")

        message = OutboundMessage(
            body=body,
            message_id=envelope.id,
            application_properties={
                RECEIVED_AT: datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                EVENT_TYPE: envelope.type,
                SOURCE: "webhook",
                **trace_properties(),  # the delivery's trace continues in the processor
            },
        )
        try:
            await self._sender.send(PORTAL_EVENTS, [message])
        except MessageTooLarge:
            return await self._reject(
                Rejection(413, "queue_refused_size", envelope.id, envelope.type),
                store=False,
                detail="the event is too large for the queue",
            )
        except DependencyUnavailable:
            metrics.increment("deliveries_unqueued")
            log.error(
                "could not queue event %s (%s): answering 503 so the portal retries",
                envelope.id,
                envelope.type,
            )
            return Answer.problem(
                503, "the event could not be queued; retry later", headers={"Retry-After": "5"}
            )
        # A label per known type, one for every unknown one: the portal's type text is not a
        # bounded set, and a metric label must be.
        metrics.increment("deliveries_accepted", type=envelope.type if envelope.event_type else "unknown")
        return ACCEPTED

    async def _reject(self, rejection: Rejection, *, detail: str, store: bool = True) -> Answer:
        record_rejection_metrics(rejection, endpoint=ENDPOINT)
        if store:
            try:
                await store_rejections(self._db, [rejection])
            except DependencyUnavailable:
                # Without its trace an operator could not see this rejection: let the portal retry.
                log.error("could not store rejected delivery %s: answering 503", rejection.event_id)
                return Answer.problem(
                    503, "the rejection could not be recorded; retry later", headers={"Retry-After": "5"}
                )
        errors: tuple[FieldError, ...] = tuple(rejection.errors)
        return Answer.problem(rejection.status_code, detail, errors)
