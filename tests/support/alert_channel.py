"""A local stand-in for a Teams or Slack incoming webhook: records every JSON post and answers
with the status a test sets (200 by default), on an ephemeral port of 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.support.local_server import serving


@dataclass
class AlertChannel:
    base_url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    status: int = 200

    @property
    def url(self) -> str:
        return f"{self.base_url}/webhook"

    def texts(self) -> list[str]:
        """Each post's title: Slack's first line, or the Adaptive Card's first TextBlock."""
        found = []
        for post in self.posts:
            if "text" in post:
                found.append(post["text"].split("\n")[0])
            else:
                found.append(post["attachments"][0]["content"]["body"][0]["text"])
        return found


@asynccontextmanager
async def running_alert_channel() -> AsyncIterator[AlertChannel]:
    channel = AlertChannel()

    async def receive(request: Request) -> Response:
        body = json.loads(await request.body())
        if channel.status >= 300:
            channel.refused += 1
            return PlainTextResponse("unavailable", status_code=channel.status)
        channel.posts.append(body)
        return PlainTextResponse("ok", status_code=channel.status)

    app = Starlette(routes=[Route("/webhook", receive, methods=["POST"])])
    async with serving(app) as base_url:
        channel.base_url = base_url
        yield channel
