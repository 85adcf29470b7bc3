"""Pure pieces of the simulator: signing against the reference implementation, secret
parsing, the retry schedule, JSON-value equality for Idempotency-Key comparisons."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from standardwebhooks.webhooks import Webhook

from portal_simulator import RetryPolicy
from portal_simulator.idempotency import json_equal
from portal_simulator.signing import new_secret, parse_secrets, sign, webhook_headers

pytestmark = pytest.mark.unit


def test_signature_matches_the_reference_implementation() -> None:
    secret = new_secret(random.Random(3))
    body = '{"id":"evt_1","type":"x","data":{}}'
    (key,) = parse_secrets(secret)
    headers = webhook_headers((key,), "evt_1", 1_700_000_000, body.encode())
    expected = Webhook(secret).sign("evt_1", datetime.fromtimestamp(1_700_000_000, UTC), body)
    assert headers["webhook-signature"] == expected == sign(key, "evt_1", 1_700_000_000, body.encode())


@pytest.mark.parametrize("secrets", ["", "whsec_", "secret_abc", "whsec_not*base64"])
def test_malformed_secrets_are_refused(secrets: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        parse_secrets(secrets)


def test_backoff_doubles_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_seconds=1, max_seconds=10)
    assert [policy.delay_after(n) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    assert policy.delay_after(1, retry_after=5) == 5
    assert policy.delay_after(1, retry_after=500) == 10


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}, True),
        ({"a": 1}, {"a": Decimal("1.0")}, True),
        ({"a": Decimal("82.5")}, {"a": Decimal("82.50")}, True),
        ({"a": True}, {"a": 1}, False),
        ({"a": None}, {}, False),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),
        ({"a": "1"}, {"a": 1}, False),
    ],
)
def test_json_values_compare_by_value_not_by_text(left: object, right: object, equal: bool) -> None:
    assert json_equal(left, right) is equal
