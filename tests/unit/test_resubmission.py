"""The one rule every resubmitted message follows: a new id duplicate detection keeps, a fresh start."""

from __future__ import annotations

import pytest

from shared.messaging.resubmission import RESUBMITTED_FROM, resubmission, resubmit_id
from shared.parked import original_body
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT, ORIGINAL_MESSAGE_ID

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("message_id", "new_id"),
    [
        ("evt_1", "evt_1:resubmit1"),
        ("evt_1:r7", "evt_1:resubmit1"),  # a parked re-send: back to the original id
        ("evt_1:resubmit1", "evt_1:resubmit2"),  # resubmitted before, dead-lettered again
        ("evt_1:resubmit2:r3", "evt_1:resubmit3"),  # ... or re-sent and parked again
        ("transfer:evt_1", "transfer:evt_1:resubmit1"),
        ("3f2b8c1e-8d1a-4a4e-9c55-0d6f1b2a7e10", "3f2b8c1e-8d1a-4a4e-9c55-0d6f1b2a7e10:resubmit1"),
    ],
)
def test_a_resubmitted_id_is_the_original_with_a_counter(message_id: str, new_id: str) -> None:
    assert resubmit_id(message_id) == new_id


def test_the_same_message_resubmitted_twice_gets_the_same_id_so_the_queue_drops_the_repeat() -> None:
    assert resubmit_id("evt_1:r30") == resubmit_id("evt_1:r30")


def test_two_messages_with_one_id_in_one_run_get_two_ids() -> None:
    first = resubmit_id("evt_1")
    assert resubmit_id("evt_1", {first}) == "evt_1:resubmit2"
    assert resubmit_id("evt_1", {first, "evt_1:resubmit2"}) == "evt_1:resubmit3"


def test_the_processor_still_reads_the_event_id_before_the_suffix() -> None:
    # shared.inbound.processor falls back to message_id.split(":r")[0] for a body without an id
    assert resubmit_id("evt_1:r4").split(":r")[0] == "evt_1"


def test_retry_counters_and_dead_letter_properties_are_dropped_the_rest_kept() -> None:
    message = resubmission(
        "evt_1:r30",
        b'{"id": "evt_1"}',
        application_properties={
            ATTEMPT: 31,
            FIRST_ATTEMPT_AT: "2026-11-27T10:00:00+00:00",
            ORIGINAL_MESSAGE_ID: "evt_1",
            "DeadLetterReason": "MaxDeliveryCountExceeded",
            "DeadLetterErrorDescription": "lock expired",
            "received_at": "2026-11-27T10:00:00+00:00",
            "event_type": "screening.completed",
        },
        content_type=None,
    )
    assert message.message_id == "evt_1:resubmit1"
    assert message.body == b'{"id": "evt_1"}'
    assert message.content_type == "application/json"
    assert message.scheduled_enqueue_time is None
    assert dict(message.application_properties) == {
        "received_at": "2026-11-27T10:00:00+00:00",
        "event_type": "screening.completed",
        RESUBMITTED_FROM: "evt_1:r30",
    }


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        (
            b'{"id": "evt_1", "score": 12.345678901234567890}',
            b'{"id": "evt_1", "score": 12.345678901234567890}',
        ),
        (b'{"body_base64": "Y2Fm6Q=="}', b"caf\xe9"),  # what could not be stored as JSON
        (b'{"body_base64": "not base64!"}', b'{"body_base64": "not base64!"}'),
        (b'{"body_base64": "Y2Fm6Q==", "id": "evt_1"}', b'{"body_base64": "Y2Fm6Q==", "id": "evt_1"}'),
    ],
)
def test_a_parked_body_goes_back_as_it_was_sent(stored: bytes, sent: bytes) -> None:
    assert original_body(stored) == sent
