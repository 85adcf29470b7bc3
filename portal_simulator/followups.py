"""The candidate's answers: after the portal takes an interview request or an offer, it later
sends ``interview.scheduled`` / ``interview.declined`` (same ``request_id``, times from the
first proposed slot) or ``offer.accepted`` / ``offer.declined`` (same ``offer_id``).

The answer is decided when the request is taken (by the decline rate and the data random
source, so a seeded simulator is reproducible) and recorded as ``planned_answer``; it is sent
``followup_delay_seconds`` later. Replays of the same ``Idempotency-Key`` never reach here, so
each request is answered once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from portal_simulator import ids
from portal_simulator.events import Data, Envelope, EventFactory, first_slot
from portal_simulator.state import InterviewRequest, Offer, SimulatorState

Publish = Callable[[str, Data], Awaitable[Envelope]]


class FollowUps:
    """Plans and sends the answers to interview requests and offers."""

    def __init__(
        self, *, state: SimulatorState, factory: EventFactory, id_factory: ids.IdFactory, publish: Publish
    ) -> None:
        self._state = state
        self._factory = factory
        self._ids = id_factory
        self._publish = publish
        self._tasks: set[asyncio.Task[None]] = set()

    def plan_interview_answer(self) -> str:
        rate = self._state.behaviour.interview_decline_rate
        return "declined" if self._state.data_rng.random() < rate else "scheduled"

    def plan_offer_answer(self) -> str:
        rate = self._state.behaviour.offer_decline_rate
        return "declined" if self._state.data_rng.random() < rate else "accepted"

    def interview_taken(self, request: InterviewRequest) -> None:
        if self._state.behaviour.followups:
            self._later(lambda: self._answer_interview(request))

    def offer_taken(self, offer: Offer) -> None:
        if self._state.behaviour.followups:
            self._later(lambda: self._answer_offer(offer))

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self, timeout: float) -> None:
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _later(self, answer: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await asyncio.sleep(self._state.behaviour.followup_delay_seconds)
            await answer()

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_interview(self, request: InterviewRequest) -> None:
        slots = request.body.get("proposed_slots") or []
        data = self._factory.interview(
            request.planned_answer,
            candidate_id=request.candidate_id,
            request_id=request.request_id,
            interview_id=self._ids.new(ids.INTERVIEW),
            slot=first_slot(slots) if slots else None,
            timezone=request.body.get("timezone"),
        )
        event_type = f"interview.{request.planned_answer}"
        request.interview_id = str(data["interview"]["id"])
        envelope = await self._publish(event_type, data)
        request.answer_event_id = str(envelope["id"])

    async def _answer_offer(self, offer: Offer) -> None:
        data = self._factory.offer(
            offer.planned_answer,
            candidate_id=offer.candidate_id,
            offer_id=offer.offer_id,
            portal_offer_id=offer.id,
            start_date=offer.body.get("start_date"),
        )
        envelope = await self._publish(f"offer.{offer.planned_answer}", data)
        offer.answer_event_id = str(envelope["id"])
