"""Deliveries are signed as Standard Webhooks: verified here with the ``standardwebhooks``
library (an independent implementation), including two secrets during a rotation; the
``wrong_signature`` and ``expired_timestamp`` faults really fail verification."""

from __future__ import annotations

import json
import random

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal_simulator.signing import new_secret
from portal_simulator.testing import RunningSimulator
from tests.portal_simulator.conftest import SECRETS, SESSION_LOOP
from tests.portal_simulator.receiver import Receiver

pytestmark = [pytest.mark.unit, SESSION_LOOP]
OLD_SECRET, NEW_SECRET = SECRETS.split()


async def test_each_delivery_verifies_with_either_secret_of_a_rotation(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    await portal.admin.generate_events("candidate.created", count=3)
    for delivery in await receiver.wait_for(3):
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        for secret in (OLD_SECRET, NEW_SECRET):
            payload = Webhook(secret).verify(delivery.body, delivery.headers)
            assert payload["id"] == delivery.headers["webhook-id"]
        assert delivery.headers["content-type"] == "application/json"


async def test_a_secret_the_portal_does_not_hold_fails_verification(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    await portal.admin.generate_events("screening.completed")
    (delivery,) = await receiver.wait_for(1)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret(random.Random(99))).verify(delivery.body, delivery.headers)


async def test_wrong_signature_fault_fails_verification(portal: RunningSimulator, receiver: Receiver) -> None:
    await portal.admin.add_fault("wrong_signature", count=1)
    await portal.admin.generate_events("screening.completed", count=2)
    first, second = await receiver.wait_for(2)
    for secret in (OLD_SECRET, NEW_SECRET):
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(secret).verify(first.body, first.headers)
        Webhook(secret).verify(second.body, second.headers)
    assert (await portal.admin.stats())["faults"] == {"wrong_signature": 1}


async def test_expired_timestamp_fault_fails_verification(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    await portal.admin.add_fault("expired_timestamp", count=1)
    await portal.admin.generate_events("screening.completed", count=2)
    first, second = await receiver.wait_for(2)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(OLD_SECRET).verify(first.body, first.headers)
    Webhook(OLD_SECRET).verify(second.body, second.headers)
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 600


async def test_webhook_id_equals_the_body_id_and_the_body_is_the_event(
    portal: RunningSimulator, receiver: Receiver
) -> None:
    (item,) = await portal.admin.generate_events("offer.accepted")
    (delivery,) = await receiver.wait_for(1)
    assert json.loads(delivery.body) == item["event"]
    assert delivery.headers["webhook-id"] == item["event"]["id"]
