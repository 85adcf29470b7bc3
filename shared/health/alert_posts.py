"""What an alert looks like in the operators' channel: Teams or Slack, chosen by ``ALERT_FORMAT``.

* ``teams``: a Microsoft Teams **Workflows** webhook (the "Post to a channel when a webhook
  request is received" flow; Office 365 connectors are retired). It takes a message whose
  ``attachments`` hold one Adaptive Card (``application/vnd.microsoft.card.adaptive``).
* ``slack``: a Slack incoming webhook, ``{"text": ...}`` in Slack's mrkdwn (``&``, ``<``, ``>``
  escaped). Mattermost and most chat webhooks take the same.
* ``auto`` (the default): by the URL's host: ``hooks.slack.com`` is Slack; Power Automate /
  Logic Apps hosts (``*.logic.azure.com``, ``*.powerplatform.com``, ``*.powerautomate.com``) and
  ``*.webhook.office.com`` are Teams; anything else gets Slack's form, the most widely accepted.

A post says what happened (opened, reminder, resolved), the kind and key, the text (ids and
reasons only), how many times it occurred since when, and the command that resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from shared.health.runbook import RESOLVE_ALERT, command_for

Phase = Literal["opened", "reminder", "resolved"]
APP_NAME = "portal-integration"
POST_TIMEOUT_SECONDS = 5.0


class AlertFormat(StrEnum):
    TEAMS = "teams"
    SLACK = "slack"
    AUTO = "auto"


_TEAMS_HOSTS = (".logic.azure.com", ".powerplatform.com", ".powerautomate.com", ".webhook.office.com")


def choose_format(url: str, setting: AlertFormat | str) -> AlertFormat:
    """``teams`` or ``slack`` for this URL and ``ALERT_FORMAT``."""
    wanted = AlertFormat(setting)
    if wanted is not AlertFormat.AUTO:
        return wanted
    host = (urlsplit(url).hostname or "").lower()
    if any(host.endswith(suffix) or host == suffix[1:] for suffix in _TEAMS_HOSTS):
        return AlertFormat.TEAMS
    return AlertFormat.SLACK


@dataclass(frozen=True, slots=True)
class AlertPost:
    phase: Phase
    kind: str
    key: str
    text: str
    count: int = 1
    first_seen: datetime | None = None
    resolved_by: str | None = None

    @property
    def title(self) -> str:
        what = {"opened": "ALERT", "reminder": "STILL OPEN", "resolved": "RESOLVED"}[self.phase]
        return f"[{APP_NAME}] {what} {self.kind} ({self.key})"

    @property
    def command(self) -> str:
        if self.phase == "resolved":
            return ""
        return command_for(self.kind, self.key)

    def facts(self) -> list[tuple[str, str]]:
        facts = [("Kind", self.kind), ("Key", self.key), ("Occurrences", str(self.count))]
        if self.first_seen is not None:
            facts.append(("First seen", self.first_seen.isoformat(timespec="seconds")))
        if self.resolved_by:
            facts.append(("Resolved by", self.resolved_by))
        if self.command:
            facts.append(("Resolve with", self.command))
            facts.append(("Close by hand", RESOLVE_ALERT.format(kind=self.kind, key=self.key)))
        return facts


def teams_payload(post: AlertPost) -> dict[str, Any]:
    """A Workflows webhook message with one Adaptive Card (schema 1.4, which Teams renders)."""
    color = "Good" if post.phase == "resolved" else "Attention"
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": post.title,
                "weight": "Bolder",
                "size": "Medium",
                "color": color,
                "wrap": True,
            },
            {"type": "TextBlock", "text": post.text, "wrap": True},
            {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in post.facts()]},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(post: AlertPost) -> dict[str, Any]:
    lines = [f"*{_slack_escape(post.title)}*", _slack_escape(post.text)]
    lines += [
        f"{title}: `{_slack_escape(value)}`" for title, value in post.facts() if title not in ("Kind", "Key")
    ]
    return {"text": "\n".join(lines)}


PAYLOADS = {AlertFormat.TEAMS: teams_payload, AlertFormat.SLACK: slack_payload}


class PostFailed(Exception):
    """The channel did not take the post (unreachable, or a non-2xx answer)."""


class AlertPoster:
    """Posts to ``ALERT_WEBHOOK_URL`` in its format; raises :class:`PostFailed` on any failure."""

    def __init__(self, url: str, alert_format: AlertFormat | str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.format = choose_format(url, alert_format)
        self._client = client

    async def post(self, post: AlertPost) -> None:
        payload = PAYLOADS[self.format](post)
        try:
            response = await self._client.post(self.url, json=payload, timeout=POST_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            raise PostFailed(type(exc).__name__) from exc
        if not response.is_success:
            raise PostFailed(f"HTTP {response.status_code}")
