"""Counters a test of the app reads back: REST calls by method, path template and status with
their Idempotency-Keys in order, faults by kind, delivery attempts by result."""

from __future__ import annotations

import uuid

import httpx
import pytest

from portal_simulator.testing import RunningSimulator
from tests.portal_simulator.conftest import SESSION_LOOP
from tests.portal_simulator.receiver import Receiver

pytestmark = [pytest.mark.unit, SESSION_LOOP]


async def test_calls_are_counted_by_template_and_status_with_their_keys(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    await rest.get(f"/v1/candidates/{candidate['id']}")
    await rest.get("/v1/candidates/cand_missing")
    keys = [str(uuid.uuid4()), str(uuid.uuid4())]
    path = f"/v1/candidates/{candidate['id']}/status"
    await portal.admin.add_fault("error_503", count=1, path_prefix=path)
    for idempotency_key in (keys[0], keys[0], keys[1], keys[1]):
        await rest.post(path, json={"stage": "screening"}, headers={"idempotency-key": idempotency_key})
    stats = await portal.admin.stats()
    assert stats["requests"]["GET /v1/candidates/{cand_id}"] == {
        "total": 2,
        "by_status": {"200": 1, "404": 1},
        "idempotency_keys": [],
        "by_idempotency_key": {},
    }
    assert stats["requests"]["POST /v1/candidates/{cand_id}/status"] == {
        "total": 4,
        "by_status": {"503": 1, "200": 3},
        "idempotency_keys": [keys[0], keys[0], keys[1], keys[1]],
        "by_idempotency_key": {  # the last answer replays the remembered first one
            keys[0]: {"by_status": {"503": 1, "200": 1}, "replayed": 0},
            keys[1]: {"by_status": {"200": 2}, "replayed": 1},
        },
    }
    assert stats["faults"] == {"error_503": 1}
    assert not any(name.startswith(("GET /admin", "POST /admin")) for name in stats["requests"])


async def test_delivery_attempts_are_counted_by_result(portal: RunningSimulator, receiver: Receiver) -> None:
    receiver.statuses = [500, 202, 400]
    await portal.admin.generate_events("candidate.created", count=2)
    await portal.admin.settle(timeout_seconds=5)
    webhooks = (await portal.admin.stats())["webhooks"]
    assert webhooks["attempts"] == 3
    assert webhooks["attempts_by_result"] == {"500": 1, "202": 1, "400": 1}
    assert webhooks["deliveries_by_outcome"] == {"delivered": 1, "rejected": 1}


async def test_reset_empties_the_counters_and_the_memory(
    portal: RunningSimulator, rest: httpx.AsyncClient
) -> None:
    candidate = await portal.admin.seed_candidate()
    await rest.get(f"/v1/candidates/{candidate['id']}")
    await portal.admin.reset()
    stats = await portal.admin.stats()
    assert stats["requests"] == {}
    assert (await rest.get(f"/v1/candidates/{candidate['id']}")).status_code == 404
