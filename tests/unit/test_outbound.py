"""The outbound flow's pure parts: the retry table and its jitter bounds, what an attempt's
answer makes of a row, how a command is read, and the replay's budget from its schedule."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import CircuitOpen, PortalCredentialRejected, PortalRejected, PortalUnavailable
from shared.outbound.attempts import (
    Complete,
    Deferred,
    Delivered,
    Fail,
    Refused,
    Release,
    RetryAt,
    Unavailable,
    classify,
    decide,
)
from shared.outbound.commands import Command, CommandType, Invalid, Unusable, read_command
from shared.outbound.retry import BACKOFF_SECONDS, MAX_ATTEMPTS, defer_delay, retry_delay
from shared.outbound.timer_budget import MAX_BUDGET_SECONDS, interval_seconds
from tests.support import ats

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def test_the_schedule_is_one_two_four_eight_sixteen_seconds_then_failed():
    assert BACKOFF_SECONDS == (1.0, 2.0, 4.0, 8.0, 16.0)
    assert MAX_ATTEMPTS == 6
    assert [retry_delay(n, retry_after=None, random=lambda: 0.0) for n in range(1, 7)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        None,
    ]


@given(failed=st.integers(1, 5), u=st.floats(0.0, 1.0, exclude_max=True))
def test_jitter_adds_zero_to_twenty_percent_never_twenty(failed, u):
    delay = retry_delay(failed, retry_after=None, random=lambda: u)
    base = BACKOFF_SECONDS[failed - 1]
    assert delay is not None
    assert base <= delay < base * 1.2


@given(failed=st.integers(1, 5), retry_after=st.floats(0.0, 10_000.0), u=st.floats(0.0, 0.999))
def test_retry_after_lengthens_the_wait_never_shortens_it_and_is_capped(failed, retry_after, u):
    delay = retry_delay(failed, retry_after=retry_after, random=lambda: u)
    plain = retry_delay(failed, retry_after=None, random=lambda: u)
    assert delay == max(plain, min(retry_after, 300.0))


def test_a_skipped_call_waits_what_it_was_told_at_least_a_second_at_most_five_minutes():
    assert [defer_delay(v) for v in (None, 0.2, 12.5, 900)] == [1.0, 1.0, 12.5, 300.0]


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (PortalUnavailable("503", status_code=503, retry_after=4), Unavailable("503", 503, 4)),
        (PortalUnavailable("timed out"), Unavailable("timed out", None, None)),
        (PortalRejected("422", status_code=422), Refused("422", 422)),
        (CircuitOpen("open", retry_after=12), Deferred("open", 12)),
        (PortalCredentialRejected("401", status_code=401, retry_after=60), Deferred("401", 60)),
    ],
)
def test_each_error_of_the_portal_client_is_one_attempt_result(error, result):
    assert classify(error) == result


def test_decide_maps_each_result_onto_what_the_row_becomes():
    random = lambda: 0.5  # noqa: E731
    assert decide(0, Delivered(201, "ireq_1"), now=NOW, random=random) == Complete(201, "ireq_1")
    assert decide(2, Unavailable("503", 503, None), now=NOW, random=random) == RetryAt(
        3, NOW + timedelta(seconds=4.4), "503", 503
    )
    assert decide(5, Unavailable("503", 503, None), now=NOW, random=random) == Fail(
        6, "attempt 6 failed, no attempt left: 503", 503, attempted=True
    )
    assert decide(0, Refused("422", 422), now=NOW, random=random) == Fail(1, "422", 422, attempted=True)
    assert decide(4, Deferred("open", 20.0), now=NOW, random=random) == Release(
        NOW + timedelta(seconds=20), "open"
    )


def test_a_well_formed_command_is_read_with_the_body_the_portal_receives():
    cand = str(uuid.uuid4())
    cmd = ats.interview_request(cand)
    command = read_command(json.dumps(cmd).encode())
    assert isinstance(command, Command)
    assert (command.type, str(command.candidate_id), command.entity_key) == (
        CommandType.INTERVIEW_REQUEST,
        cand,
        cmd["data"]["request_id"],
    )
    assert command.portal_body("cand_abc") == {**cmd["data"], "candidate_id": "cand_abc"}
    status = read_command(json.dumps(ats.status(cand, "withdrawn", "moved abroad")).encode())
    assert isinstance(status, Command)
    assert status.portal_body("cand_abc") == {"stage": "withdrawn", "message": "moved abroad"}


def test_fields_the_ats_adds_are_not_forwarded():
    cmd = ats.offer(str(uuid.uuid4()), internal_note="x")
    command = read_command(json.dumps(cmd).encode())
    assert isinstance(command, Command)
    assert "internal_note" not in command.portal_body("cand_abc")


def test_a_string_jsonb_cannot_store_makes_the_command_invalid_without_storing_it():
    cmd = ats.offer(str(uuid.uuid4()), title="bad\u0000title")
    command = read_command(json.dumps(cmd).encode())
    assert isinstance(command, Invalid)
    assert command.document == {"command_id": cmd["command_id"]}
    assert "\\u0000" in command.reason


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"null", b'"text"', b'{"command_id": 7}'])
def test_a_body_without_a_usable_command_id_is_unusable(body):
    assert isinstance(read_command(body), Unusable)


@pytest.mark.parametrize(
    "schedule",
    ["* * * * * *", "*/5 * * * * *", "0,15,30,45 * * * * *", "0 */2 * * * *", "10-20/5 * * * * *"],
)
def test_the_budget_is_the_schedules_shortest_interval_as_croniter_reads_it(schedule):
    start = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    it = croniter(schedule, start - timedelta(seconds=1), second_at_beginning=True)
    fires = [it.get_next(datetime) for _ in range(200)]
    in_hour = [f for f in fires if f < start + timedelta(hours=1)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(in_hour)]
    expected = min([*gaps, MAX_BUDGET_SECONDS])
    assert interval_seconds(schedule, start=start) == expected


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [("00:00:01", 1.0), ("00:00:10", 10.0), ("00:05:00", 30.0), ("0 0 9 * * MON", 30.0), ("bad", 30.0)],
)
def test_timespans_rare_schedules_and_nonsense_get_a_bounded_budget(schedule, expected):
    assert interval_seconds(schedule, start=NOW) == expected
