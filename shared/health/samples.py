"""The metrics document as flat samples (name, labels, value): one mapping for two exports.

Prometheus text (``GET /api/health/metrics?format=prometheus``, :func:`prometheus_text`) and the
OpenTelemetry gauges sent to Application Insights (:mod:`shared.health.instruments`) are both
built from :func:`samples`, so they always carry the same names and labels. Every sample is a
gauge: windowed counts are "how many in the last 5 min / 1 h / 24 h", not ever-growing counters.
Labels are short words (a window, a status, a reason code, an operation); never ids.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "portal_"

#: name → help text (Prometheus ``# HELP``; the OpenTelemetry instrument's description).
HELP: dict[str, str] = {
    "deliveries": "Webhook deliveries and import lines answered in the window, by outcome",
    "deliveries_rejected": "Deliveries refused in the window, by status and reason",
    "events": "Events recorded in the window, by outcome",
    "events_success_rate": "Share of events recorded in the window that were processed or ignored",
    "event_latency_seconds": "Seconds from receipt to applied, events processed in the window",
    "events_failed": "Events failed in the window, by reason",
    "outbound_calls": "Portal API calls in the window, by operation and outcome",
    "outbound_latency_ms": "Portal API call duration in milliseconds, by operation and outcome",
    "sync_queue_rows": "sync_queue rows by status",
    "sync_queue_oldest_due_age_seconds": "Seconds the oldest due pending sync_queue row has waited",
    "queue_messages": "Messages per queue: active, scheduled, dead-lettered, parked",
    "documents": "Candidate documents by status",
    "documents_transferred": "Documents transferred to Blob Storage in the window",
    "circuit_open": "1 while the portal circuit breaker is open or half-open",
    "circuit_failures": "Consecutive transient portal failures the breaker counts",
    "alerts_open": "Open alert incidents by kind",
    "source_up": "1 when the metrics could read this source",
}


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


def _s(name: str, value: float | int | None, **labels: str) -> Iterator[Sample]:
    if value is not None:
        yield Sample(name, tuple(sorted(labels.items())), float(value))


def _quantiles(name: str, figures: Mapping[str, float | None], **labels: str) -> Iterator[Sample]:
    for q, value in figures.items():
        yield from _s(name, value, quantile=str(int(q[1:]) / 100), **labels)


def samples(m: Mapping[str, Any]) -> list[Sample]:
    out: list[Sample] = []
    for window, d in (m.get("deliveries") or {}).items():
        if d is None:
            continue
        for outcome in ("received", "accepted", "duplicates", "rejected", "unqueued"):
            out += _s("deliveries", d[outcome], window=window, outcome=outcome)
        for r in d["rejected_by_reason"]:
            out += _s(
                "deliveries_rejected",
                r["deliveries"],
                window=window,
                status=str(r["status"]),
                reason=r["reason"],
            )
    for window, e in (m.get("events") or {}).items():
        for outcome in ("processed", "ignored", "failed"):
            out += _s("events", e[outcome], window=window, outcome=outcome)
        out += _s("events_success_rate", e["success_rate"], window=window)
        out += _quantiles("event_latency_seconds", e["latency_seconds"], window=window)
        for reason, n in e["failed_by_reason"].items():
            out += _s("events_failed", n, window=window, reason=reason)
    for window, calls in (m.get("outbound") or {}).items():
        for c in calls:
            labels = {"window": window, "operation": c["operation"], "outcome": c["outcome"]}
            out += _s("outbound_calls", c["calls"], **labels)
            out += _quantiles("outbound_latency_ms", c["latency_ms"], **labels)
    sync = m.get("sync_queue")
    if sync:
        for status in ("pending", "processing", "failed"):
            out += _s("sync_queue_rows", sync[status], status=status)
        out += _s("sync_queue_oldest_due_age_seconds", sync["oldest_due_age_seconds"] or 0)
    for queue, figures in (m.get("queues") or {}).items():
        for state, value in figures.items():
            out += _s("queue_messages", value, queue=queue, state=state)
    documents = m.get("documents")
    if documents:
        for status in ("pending", "transferred", "failed", "rejected"):
            out += _s("documents", documents[status], status=status)
        for window, n in documents["transferred_in_window"].items():
            out += _s("documents_transferred", n, window=window)
    breaker = m.get("breaker")
    if breaker:
        out += _s("circuit_open", 0 if breaker["state"] == "closed" else 1)
        out += _s("circuit_failures", breaker["failures"])
    alerts = m.get("alerts")
    if alerts:
        for kind, n in alerts["by_kind"].items():
            out += _s("alerts_open", n, kind=kind)
    unavailable = m.get("unavailable") or {}
    for source in ("postgres", "redis", "queues", "breaker"):
        out += _s("source_up", 0 if source in unavailable else 1, source=source)
    return out


# --- Prometheus text exposition format 0.0.4 --------------------------------------------------

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def prometheus_text(m: Mapping[str, Any]) -> str:
    """Every sample as a gauge, grouped by name with its ``# HELP`` and ``# TYPE``."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples(m):
        by_name.setdefault(sample.name, []).append(sample)
    lines: list[str] = []
    for name in HELP:
        group = by_name.get(name)
        if not group:
            continue
        full = PREFIX + name
        lines += [f"# HELP {full} {HELP[name]}", f"# TYPE {full} gauge"]
        for sample in group:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels)
            lines.append(
                f"{full}{{{labels}}} {_number(sample.value)}" if labels else f"{full} {_number(sample.value)}"
            )
    return "\n".join(lines) + "\n"
