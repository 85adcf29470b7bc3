"""The health timer's conditions, as data: what holds, what clears, what cannot be judged."""

from __future__ import annotations

from shared.health.conditions import Thresholds, judge
from shared.messaging.port import QUEUES

T = Thresholds(
    success_rate_min=0.9, min_events=10, p99_latency_seconds=30, signature_failures=5, sync_due_seconds=60
)


def metrics(**overrides):
    base = {
        "events": {
            "5m": {
                "recorded": 20,
                "failed": 1,
                "success_rate": 0.95,
                "latency_seconds": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
                "failed_by_reason": {"404": 1},
            }
        },
        "deliveries": {"5m": {"rejected_by_reason": [{"status": 401, "reason": "x", "deliveries": 2}]}},
        "queues": {q: {"dead_letters": 0} for q in QUEUES},
        "breaker": {"state": "closed", "changed_at": None, "open_until": None},
        "sync_queue": {"oldest_due_age_seconds": None, "pending": 0},
    }
    base.update(overrides)
    return base


def verdicts(m):
    return {(j.kind, j.key): j.holds for j in judge(m, T)}


def test_a_healthy_integration_holds_no_condition():
    assert set(verdicts(metrics()).values()) == {False}


def test_each_condition_holds_past_its_threshold():
    m = metrics(
        events={
            "5m": {
                "recorded": 20,
                "failed": 4,
                "success_rate": 0.8,
                "latency_seconds": {"p50": 1, "p95": 20, "p99": 31},
                "failed_by_reason": {"404": 4},
            }
        },
        deliveries={"5m": {"rejected_by_reason": [{"status": 401, "reason": "x", "deliveries": 6}]}},
        queues={**{q: {"dead_letters": 0} for q in QUEUES}, "ats-outbound": {"dead_letters": 1}},
        breaker={"state": "half_open", "changed_at": None, "open_until": None},
        sync_queue={"oldest_due_age_seconds": 61.0, "pending": 3},
    )
    held = {key for key, holds in verdicts(m).items() if holds}
    assert held == {
        ("events_failing", "portal-events"),
        ("latency_high", "portal-events"),
        ("signature_failures", "webhooks"),
        ("dead_letters", "ats-outbound"),
        ("portal_circuit_open", "portal"),
        ("sync_backlog", "sync_queue"),
    }


def test_a_low_rate_over_too_few_events_is_not_judged_failing():
    few = metrics(events={"5m": {**metrics()["events"]["5m"], "recorded": 9, "success_rate": 0.0}})
    assert verdicts(few)[("events_failing", "portal-events")] is False


def test_a_source_that_could_not_be_read_judges_nothing():
    blind = metrics(
        events=None,
        deliveries=None,
        queues={q: {"dead_letters": None} for q in QUEUES},
        breaker=None,
        sync_queue=None,
    )
    assert set(verdicts(blind).values()) == {None}
