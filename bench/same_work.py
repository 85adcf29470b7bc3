"""The same-work baseline: a hand-written Starlette endpoint doing the minimum a receiver must.

Read the body, check the Standard Webhooks HMAC-SHA256 signature (timestamp window, constant
time compare), validate the event with a small pydantic model of its own, one Redis command
(``EXISTS`` on the processed-event key: the fast path), one PostgreSQL insert (autocommit: one
round trip, one transaction), answer 202. No logging, no metrics, no problem+json.

Run by ``bench/ingest.py`` as ``uvicorn bench.same_work:app`` with its settings in
``BENCH_SECRET``, ``BENCH_DATABASE_URL``, ``BENCH_REDIS_URL``, ``BENCH_REDIS_PREFIX``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bench_inbox (
    event_id text PRIMARY KEY,
    event_type text NOT NULL,
    body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO bench_inbox (event_id, event_type, body) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
TOLERANCE = 300


class Candidate(BaseModel):
    id: Annotated[str, Field(pattern=r"^cand_[A-Za-z0-9]+$")]
    first_name: str
    last_name: str
    email: str
    updated_at: datetime


class Screening(BaseModel):
    id: str
    candidate_id: str
    score: Annotated[Decimal, Field(ge=0, le=100)]
    recommendation: Literal["advance", "review", "reject"]
    completed_at: datetime


class Assessment(BaseModel):
    id: str
    candidate_id: str
    assessment_type: str
    status: Literal["completed", "failed"]
    score: Decimal | None = None
    max_score: Decimal | None = None


class Data(BaseModel):
    candidate: Candidate | None = None
    screening: Screening | None = None
    assessment: Assessment | None = None


class Event(BaseModel):
    id: Annotated[str, Field(pattern=r"^evt_[A-Za-z0-9]+$")]
    type: str
    created_at: datetime
    data: Data


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def verify(
    key: bytes, webhook_id: str | None, timestamp: str | None, header: str | None, body: bytes
) -> bool:
    if not webhook_id or not timestamp or not header or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac)
    ok = False
    for part in header.split():
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            ok = True
    return ok


class State:
    pool: AsyncConnectionPool
    redis: aioredis.Redis
    key: bytes
    prefix: str


state = State()


async def webhook(request: Request) -> Response:
    body = await request.body()
    headers = request.headers
    if not verify(
        state.key,
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
        body,
    ):
        return Response(status_code=401)
    try:
        event = Event.model_validate_json(body)
    except ValidationError:
        return Response(status_code=422)
    if await state.redis.exists(f"{state.prefix}evt:{event.id}"):
        return Response(status_code=200)
    async with state.pool.connection() as conn:
        await conn.execute(INSERT, (event.id, event.type, body))
    return Response(status_code=202)


@asynccontextmanager
async def lifespan(_: Any) -> AsyncIterator[None]:
    state.key = _key(os.environ["BENCH_SECRET"])
    state.prefix = os.environ["BENCH_REDIS_PREFIX"]
    state.redis = aioredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    state.pool = AsyncConnectionPool(
        os.environ["BENCH_DATABASE_URL"], min_size=10, max_size=10, open=False, kwargs={"autocommit": True}
    )
    await state.pool.open(wait=True)
    async with state.pool.connection() as conn:
        await conn.execute(CREATE_TABLE)
    yield
    await state.pool.close()
    await state.redis.aclose()


app = Starlette(routes=[Route("/api/portal/webhooks", webhook, methods=["POST"])], lifespan=lifespan)
