"""The composition root: builds the state, generators, sender and follow-ups once, and offers
the few operations the web layer and the test handle need (publish an event, send a batch).
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import httpx

from portal_simulator import ids
from portal_simulator.bulk_import import NDJSON, ImportBatch, ImportRequest, build_batch, serialize
from portal_simulator.clock import Clock, system_clock
from portal_simulator.config import SimulatorConfig
from portal_simulator.delivery import Sleep, WebhookSender
from portal_simulator.events import Data, Envelope, EventFactory
from portal_simulator.followups import FollowUps
from portal_simulator.generation import EventGenerator, GeneratedEvent
from portal_simulator.profiles import ProfileGenerator
from portal_simulator.signing import parse_secrets
from portal_simulator.state import Delivery, SimulatorState


class Simulator:
    """One simulated portal. ``clock``, the random sources and the HTTP client are injectable."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock: Clock = system_clock,
        data_rng: random.Random | None = None,
        fault_rng: random.Random | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.config = config
        seed = config.seed
        self.state = SimulatorState(
            clock=clock,
            behaviour=config.behaviour(),
            data_rng=data_rng or random.Random(seed),
            fault_rng=fault_rng or random.Random(None if seed is None else seed + 1),
            idempotency_ttl=timedelta(seconds=config.idempotency_ttl_seconds),
            public_url=config.resolved_public_url(),
        )
        self.ids = ids.IdFactory(self.state.data_rng)
        self.profiles = ProfileGenerator(self.state.data_rng, self.ids, clock)
        self.factory = EventFactory(self.state.data_rng, self.ids, clock)
        self.generator = EventGenerator(
            state=self.state, factory=self.factory, profiles=self.profiles, id_factory=self.ids
        )
        self.sender = WebhookSender(
            state=self.state,
            keys=parse_secrets(config.webhook_secrets),
            retry=config.retry,
            id_factory=self.ids,
            client=http_client,
            sleep=sleep or asyncio.sleep,
        )
        self.shutting_down = asyncio.Event()
        """Set when the server stops, so held (``timeout`` fault) calls end at once."""
        self.followups = FollowUps(
            state=self.state, factory=self.factory, id_factory=self.ids, publish=self.publish
        )

    @property
    def ats_url(self) -> str:
        return self.config.ats_url

    @property
    def import_url(self) -> str:
        return self.config.resolved_import_url()

    async def publish(self, event_type: str, data: Data) -> Envelope:
        """Wrap ``data`` in a new envelope, remember it and deliver it (first attempt awaited)."""
        envelope = self.factory.envelope(event_type, data)
        await self.emit(envelope)
        return envelope

    async def emit(self, envelope: Envelope) -> Delivery:
        """Deliver an envelope as it is (a duplicate keeps its id), signed for this attempt."""
        self.state.events.setdefault(str(envelope["id"]), envelope)
        return await self.sender.deliver(
            kind="webhook",
            message_id=str(envelope["id"]),
            event_type=str(envelope.get("type")) if envelope.get("type") is not None else None,
            url=self.ats_url,
            body=serialize(envelope),
            content_type="application/json",
        )

    def remember(self, events: list[GeneratedEvent]) -> None:
        for event in events:
            self.state.events.setdefault(str(event.envelope["id"]), event.envelope)

    def build_import(self, request: ImportRequest) -> ImportBatch:
        return build_batch(request, generator=self.generator, state=self.state, id_factory=self.ids)

    async def send_import(self, batch: ImportBatch) -> Delivery:
        self.remember(batch.lines)
        return await self.sender.deliver(
            kind="import",
            message_id=batch.batch_id,
            event_type=None,
            url=self.import_url,
            body=batch.body,
            content_type=NDJSON,
        )

    async def reset(self) -> None:
        """Cancel pending answers and retries, then forget everything but the settings."""
        await self.followups.close()
        await self.sender.cancel_retries()
        self.state.reset()

    async def close(self) -> None:
        await self.followups.close()
        await self.sender.close()
