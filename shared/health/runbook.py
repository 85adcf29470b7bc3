"""What an operator runs for each kind of problem: one table, used by the alert posts and the
dashboard, so both name the same command (docs/operations.md, "Runbook", says the rest)."""

from __future__ import annotations

#: Alert kind → the command that resolves its cause (``{key}`` is the alert's key).
ALERT_COMMANDS: dict[str, str] = {
    "event_parked": "python -m ops dead-letters resubmit {key} --all --source parked",
    "document_parked": "python -m ops dead-letters resubmit {key} --all --source parked",
    "command_parked": "python -m ops dead-letters list ats-outbound --source parked",
    "dead_letters": "python -m ops dead-letters resubmit {key} --all --source dead-letters",
    "sync_failed": "python -m ops sync retry {key}",
    "document_failed": "python -m ops documents retry {key}",
    "document_rejected": "python -m ops documents list --status rejected",
    "events_failing": "python -m ops events list --status failed --since 1h",
    "latency_high": "GET /api/health/ready; portal-events backlog on the dashboard (queued or re-sent)",
    "sync_backlog": "python -m ops sync list",
    "portal_circuit_open": "curl $PORTAL_BASE_URL/v1/health; the breaker closes by itself",
    "portal_credentials_rejected": "rotate portal-api-key in Key Vault (docs/deploy.md)",
    "signature_failures": "check PORTAL_WEBHOOK_SECRETS / portal-webhook-secrets (docs/operations.md)",
}

RESOLVE_ALERT = "python -m ops alerts resolve {kind} {key}"
REPLAY_EVENT = "python -m ops events replay {event_id}"
LIST_FAILED_EVENTS = "python -m ops events list --status failed --since 24h"
RETRY_SYNC = "python -m ops sync retry {command_id}"
RETRY_DOCUMENT = "python -m ops documents retry {document_id}"
LIST_REJECTED_DOCUMENTS = "python -m ops documents list --status rejected"
RESUBMIT_DEAD_LETTERS = "python -m ops dead-letters resubmit {queue} --all --source dead-letters"
RESUBMIT_PARKED = "python -m ops dead-letters resubmit {queue} --all --source parked"


def command_for(kind: str, key: str) -> str:
    """The command for an alert: its kind's own, else resolving it by hand."""
    template = ALERT_COMMANDS.get(kind)
    return (template or RESOLVE_ALERT).format(kind=kind, key=key)
