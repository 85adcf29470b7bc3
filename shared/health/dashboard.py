"""The status page, ``GET /api/health/dashboard``: one HTML response, nothing else to load.

The page (``dashboard.html`` beside this module) carries its styles, its script and its first
data inline: no CDN, no build step, and no second request that would lack the function key.
Every ``refresh`` seconds (15 by default, ``?refresh=N`` for 1–300) the script asks the same
URL for ``?format=json`` with the key it was opened with (``?code=...``) and redraws:

* charts of the last hour, minute by minute: deliveries (accepted, rejected, duplicates),
  processing success rate, latency from receipt to applied (p50, p95, p99);
* the circuit breaker, events and deliveries per window, queues (active, scheduled, dead
  letters, parked), ``sync_queue``, documents, portal API calls;
* the open problems (:mod:`shared.health.problems`), each with the ``python -m ops`` command
  that resolves it.

Everything from the data is inserted as text, never as HTML. The response's
Content-Security-Policy allows only this page's own inline script and style (a fresh nonce per
response) and requests to its own origin.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

from shared.health.collect import HealthSources, collect, series
from shared.health.problems import problems

CONTENT_TYPE = "text/html; charset=utf-8"
_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


@cache
def _template() -> str:
    return files("shared.health").joinpath("dashboard.html").read_text(encoding="utf-8")


async def dashboard_data(sources: HealthSources, *, now: datetime) -> dict[str, Any]:
    """What the page shows: the metrics, the last hour's series and the open problems."""
    metrics, points = await asyncio.gather(collect(sources, now=now), series(sources, now=now))
    try:
        found = await problems(sources.db, metrics)
    except Exception as exc:  # PostgreSQL down: the page still shows what it can
        metrics["unavailable"].setdefault("postgres", type(exc).__name__)
        found = []
    return {"metrics": metrics, "series": points, "problems": found}


def _script_safe_json(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element nor break the page (``<``, ``>``, ``&``,
    U+2028/2029 escaped)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def render(data: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The page and its headers (Content-Security-Policy with this response's nonce)."""
    nonce = secrets.token_urlsafe(16)
    page = _template().replace("__NONCE__", nonce).replace("__DATA__", _script_safe_json(data))
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        ),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return page, headers
