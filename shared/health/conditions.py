"""Which alerts resolve themselves, and how: the health timer's checks, as tables.

Two sorts of alert:

* **Conditions** the timer itself judges from the metrics every minute (:data:`CONDITIONS`):
  while one holds it is raised (the first minute posts, the next ones are counted), and the
  first minute it no longer holds resolves it. A figure that could not be read (its source is
  down) judges nothing either way.

  ===================== ============== ==========================================================
  kind                  key            holds while
  ===================== ============== ==========================================================
  portal_circuit_open   ``portal``     the breaker is open or half-open
  events_failing        portal-events  the 5-minute success rate is below ALERT_SUCCESS_RATE_MIN
                                       (with at least ALERT_MIN_EVENTS events recorded)
  latency_high          portal-events  the 5-minute p99 from receipt to applied is above
                                       ALERT_P99_LATENCY_SECONDS
  dead_letters          the queue      the queue's dead-letter queue is not empty
  signature_failures    ``webhooks``   more than ALERT_SIGNATURE_FAILURES 401s in 5 minutes
  sync_backlog          ``sync_queue`` the oldest due sync_queue row waits longer than
                                       ALERT_SYNC_DUE_SECONDS
  ===================== ============== ==========================================================

* **Events** raised by the flows (a message parked, a command or a document failed): the timer
  looks at each open one (:data:`STILL_HOLDS`) and resolves it when its cause is gone: the
  parked messages were resubmitted, the failed row was retried and is no longer ``failed``, a
  portal call with our key succeeded since it was refused. ``document_rejected`` does not
  resolve itself (a rejection is final): an operator closes it with ``ops alerts resolve``, as
  any alert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.messaging.port import QUEUES


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The settings of docs/operations.md ("Alerts"), with their defaults."""

    success_rate_min: float = 0.95
    min_events: int = 20
    p99_latency_seconds: float = 60.0
    signature_failures: int = 20
    sync_due_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class Judgement:
    """One condition's verdict for one key: ``holds`` None when its figure is unknown."""

    kind: str
    key: str
    holds: bool | None
    text: str = ""


Metrics = dict[str, Any]
Condition = Callable[[Metrics, Thresholds], list[Judgement]]


def _breaker(m: Metrics, t: Thresholds) -> list[Judgement]:
    breaker = m.get("breaker")
    if breaker is None:
        return [Judgement("portal_circuit_open", "portal", None)]
    state = breaker["state"]
    return [
        Judgement(
            "portal_circuit_open",
            "portal",
            state != "closed",
            f"portal circuit {state} since {breaker['changed_at']} (open until {breaker['open_until']})",
        )
    ]


def _success_rate(m: Metrics, t: Thresholds) -> list[Judgement]:
    events = (m.get("events") or {}).get("5m")
    if events is None:
        return [Judgement("events_failing", "portal-events", None)]
    rate = events["success_rate"]
    holds = events["recorded"] >= t.min_events and rate is not None and rate < t.success_rate_min
    reasons = ", ".join(f"{reason} ({n})" for reason, n in list(events["failed_by_reason"].items())[:3])
    return [
        Judgement(
            "events_failing",
            "portal-events",
            holds,
            f"{events['failed']} of {events['recorded']} events failed in 5 min "
            f"(success rate {rate}, threshold {t.success_rate_min}): {reasons or '-'}",
        )
    ]


def _latency(m: Metrics, t: Thresholds) -> list[Judgement]:
    events = (m.get("events") or {}).get("5m")
    if events is None:
        return [Judgement("latency_high", "portal-events", None)]
    p99 = events["latency_seconds"]["p99"]
    return [
        Judgement(
            "latency_high",
            "portal-events",
            p99 is not None and p99 > t.p99_latency_seconds,
            f"p99 from receipt to applied {p99} s over 5 min (threshold {t.p99_latency_seconds} s)",
        )
    ]


def _dead_letters(m: Metrics, t: Thresholds) -> list[Judgement]:
    queues = m.get("queues") or {}
    judgements = []
    for queue in QUEUES:
        count = (queues.get(queue) or {}).get("dead_letters")
        judgements.append(
            Judgement(
                "dead_letters",
                queue,
                None if count is None else count > 0,
                f"{count} dead-lettered message(s) on {queue}: a handler kept raising",
            )
        )
    return judgements


def _signatures(m: Metrics, t: Thresholds) -> list[Judgement]:
    window = (m.get("deliveries") or {}).get("5m")
    if window is None:
        return [Judgement("signature_failures", "webhooks", None)]
    failures = sum(r["deliveries"] for r in window["rejected_by_reason"] if r["status"] == 401)
    return [
        Judgement(
            "signature_failures",
            "webhooks",
            failures > t.signature_failures,
            f"{failures} deliveries refused 401 in 5 min (threshold {t.signature_failures})",
        )
    ]


def _sync_backlog(m: Metrics, t: Thresholds) -> list[Judgement]:
    sync = m.get("sync_queue")
    if sync is None:
        return [Judgement("sync_backlog", "sync_queue", None)]
    age = sync["oldest_due_age_seconds"]
    return [
        Judgement(
            "sync_backlog",
            "sync_queue",
            age is not None and age > t.sync_due_seconds,
            f"the oldest due sync_queue row waits {age} s ({sync['pending']} pending; "
            f"threshold {t.sync_due_seconds} s)",
        )
    ]


CONDITIONS: tuple[Condition, ...] = (
    _breaker,
    _success_rate,
    _latency,
    _dead_letters,
    _signatures,
    _sync_backlog,
)

#: Kinds the timer judges itself (never checked by :data:`STILL_HOLDS`).
CONDITION_KINDS = frozenset(
    {
        "portal_circuit_open",
        "events_failing",
        "latency_high",
        "dead_letters",
        "signature_failures",
        "sync_backlog",
    }
)


def judge(metrics: Metrics, thresholds: Thresholds) -> list[Judgement]:
    return [judgement for condition in CONDITIONS for judgement in condition(metrics, thresholds)]


_PARKED = "SELECT EXISTS (SELECT 1 FROM parked_messages WHERE queue = %(key)s OR message_id = %(key)s)"

#: Kind raised by a flow → a query answering "does its cause still hold?" for the alert's key.
STILL_HOLDS: dict[str, str] = {
    "event_parked": _PARKED,
    "document_parked": _PARKED,
    "command_parked": _PARKED,
    "sync_failed": """
        SELECT EXISTS (SELECT 1 FROM sync_queue WHERE command_id::text = %(key)s AND status = 'failed')
    """,
    "document_failed": """
        SELECT EXISTS (SELECT 1 FROM candidate_documents WHERE id::text = %(key)s AND status = 'failed')
    """,
    # Refused while the portal's last answer to a call with our key was a refusal.
    "portal_credentials_rejected": """
        SELECT coalesce((SELECT outcome = 'credentials_rejected' FROM portal_activity_log
                         WHERE direction = 'outbound' AND http_status IS NOT NULL
                         ORDER BY created_at DESC LIMIT 1), false)
    """,
}

#: How each kind ends, for the dashboard and ``ops alerts list``.
RESOLUTION: dict[str, str] = {
    "portal_circuit_open": "by itself when the breaker closes",
    "events_failing": "by itself when the 5-minute success rate recovers",
    "latency_high": "by itself when the 5-minute p99 falls below the threshold",
    "dead_letters": "by itself when the dead-letter queue is empty (resubmitted)",
    "signature_failures": "by itself when 401s fall below the threshold",
    "sync_backlog": "by itself when the replay catches up",
    "event_parked": "by itself once the parked messages are resubmitted",
    "document_parked": "by itself once the parked messages are resubmitted",
    "command_parked": "by itself once the parked messages are resubmitted",
    "sync_failed": "by itself once the row is retried and no longer failed",
    "document_failed": "by itself once the document is retried and no longer failed",
    "portal_credentials_rejected": "by itself once a portal call with our key succeeds",
}


def resolution_of(kind: str) -> str:
    return RESOLUTION.get(kind, "by an operator: python -m ops alerts resolve KIND KEY")
