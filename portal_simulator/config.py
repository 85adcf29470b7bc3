"""The simulator's configuration: fixed at start (:class:`SimulatorConfig`) and tunable at run
time (:class:`Behaviour`, changed through ``PUT /admin/settings``).

The CLI fills :class:`SimulatorConfig` from flags and environment variables; tests build it
directly. Defaults suit a developer machine: the ATS on ``127.0.0.1:7071`` (devhost or Core
Tools) and the simulator on ``127.0.0.1:7072``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7072
DEFAULT_ATS_URL = "http://127.0.0.1:7071/api/portal/webhooks"
DEFAULT_API_KEY = "portal-simulator-api-key"
DEFAULT_WEBHOOK_SECRETS = "whsec_" + base64.b64encode(b"portal-simulator-development-key").decode()
"""A fixed development secret, so a local app configured from the docs verifies out of the box."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How webhook deliveries are retried: after failed attempt n the wait is
    ``min(initial_seconds × 2^(n-1), max_seconds)``, or the ATS's ``Retry-After`` when longer
    (still capped); after ``max_attempts`` attempts the delivery is given up.

    A real portal keeps trying for 3 days; the simulator stops sooner so demos end.
    """

    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    max_attempts: int = 8
    timeout_seconds: float = 10.0

    def delay_after(self, failed_attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1 for the first)."""
        delay: float = min(self.initial_seconds * 2.0 ** (failed_attempts - 1), self.max_seconds)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_seconds))
        return delay


@dataclass(slots=True, kw_only=True)
class Behaviour:
    """What the simulated candidates do, changeable while the simulator runs.

    ``followup_delay_seconds`` is the wait between taking an interview request or an offer and
    sending its answer; the decline rates are the share (0..1) of answers that are declines;
    ``followups`` false takes requests and offers without ever answering them (benchmarks of
    the ATS's calls, which must not measure the ATS receiving webhooks too).
    """

    followup_delay_seconds: float = 2.0
    interview_decline_rate: float = 0.2
    offer_decline_rate: float = 0.2
    followups: bool = True

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "followup_delay_seconds": self.followup_delay_seconds,
            "interview_decline_rate": self.interview_decline_rate,
            "offer_decline_rate": self.offer_decline_rate,
            "followups": self.followups,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """Everything the simulator needs at start. ``public_url`` defaults to ``http://host:port``
    (the base of ``download_url`` in document events); ``ats_import_url`` defaults to the
    webhook URL with its last segment replaced by ``candidates/import``."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str | None = None
    api_key: str = DEFAULT_API_KEY
    webhook_secrets: str = DEFAULT_WEBHOOK_SECRETS
    ats_url: str = DEFAULT_ATS_URL
    ats_import_url: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    followup_delay_seconds: float = 2.0
    interview_decline_rate: float = 0.2
    offer_decline_rate: float = 0.2
    followups: bool = True
    idempotency_ttl_seconds: float = 24 * 3600.0
    seed: int | None = None

    def resolved_public_url(self, port: int | None = None) -> str:
        """The public base URL, from the bound ``port`` when none was configured."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{port if port is not None else self.port}"

    def resolved_import_url(self) -> str:
        if self.ats_import_url:
            return self.ats_import_url
        base = self.ats_url.rstrip("/")
        if base.endswith("/webhooks"):
            base = base[: -len("/webhooks")]
        return base + "/candidates/import"

    def behaviour(self) -> Behaviour:
        return Behaviour(
            followup_delay_seconds=self.followup_delay_seconds,
            interview_decline_rate=self.interview_decline_rate,
            offer_decline_rate=self.offer_decline_rate,
            followups=self.followups,
        )
