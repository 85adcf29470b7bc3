"""Backing off without sleeping: the re-send plan of DESIGN.md (1 s, 2 s, 4 s … 5 min; park at 24 h)."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.queued import QueuedMessage
from shared.redelivery import (
    ATTEMPT,
    FIRST_ATTEMPT_AT,
    ORIGINAL_MESSAGE_ID,
    RetryDecision,
    backoff_delay,
    plan_retry,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (8, 128), (9, 256), (10, 300), (40, 300)]
)
def test_backoff_doubles_and_is_capped_at_five_minutes(attempt, seconds):
    assert backoff_delay(attempt) == timedelta(seconds=seconds)


def test_first_failure_resends_with_a_new_id_the_attempt_and_the_first_time():
    message = QueuedMessage(b"{}", "evt_1", {"received_at": "x"}, enqueued_time=NOW - timedelta(seconds=3))
    plan = plan_retry(message, now=NOW)
    assert plan.decision is RetryDecision.RESCHEDULED
    assert plan.message is not None
    assert plan.message.message_id == "evt_1:r1"
    assert plan.message.scheduled_enqueue_time == NOW + timedelta(seconds=1)
    assert plan.message.body == b"{}"
    props = plan.message.application_properties
    assert (props[ATTEMPT], props[ORIGINAL_MESSAGE_ID], props["received_at"]) == (2, "evt_1", "x")
    assert props[FIRST_ATTEMPT_AT] == (NOW - timedelta(seconds=3)).isoformat()


def test_later_failures_keep_the_original_id_and_first_time():
    first = (NOW - timedelta(hours=2)).isoformat()
    message = QueuedMessage(
        b"{}", "evt_1:r4", {ATTEMPT: 5, FIRST_ATTEMPT_AT: first, ORIGINAL_MESSAGE_ID: "evt_1"}
    )
    plan = plan_retry(message, now=NOW)
    assert plan.message is not None
    assert plan.message.message_id == "evt_1:r5"
    assert plan.message.scheduled_enqueue_time == NOW + timedelta(seconds=16)
    assert plan.message.application_properties[FIRST_ATTEMPT_AT] == first


def test_after_24_hours_the_message_is_parked():
    first = (NOW - timedelta(hours=24)).isoformat()
    plan = plan_retry(QueuedMessage(b"{}", "evt_1:r90", {ATTEMPT: 91, FIRST_ATTEMPT_AT: first}), now=NOW)
    assert (plan.decision, plan.attempt, plan.message) == (RetryDecision.PARK, 91, None)


@pytest.mark.parametrize(
    ("attempt", "not_before", "seconds"),
    [(1, None, 1), (1, 30.0, 30), (3, 2.0, 4), (1, 900.0, 300), (10, 30.0, 300), (2, 0.0, 2)],
)
def test_a_retry_after_or_the_breakers_remaining_time_lengthens_the_delay_up_to_five_minutes(
    attempt, not_before, seconds
):
    message = QueuedMessage(b"{}", "evt_1", {ATTEMPT: attempt}, enqueued_time=NOW)
    plan = plan_retry(message, now=NOW, not_before=not_before)
    assert plan.message is not None
    assert plan.message.scheduled_enqueue_time == NOW + timedelta(seconds=seconds)
