"""The ``devhost`` schema that holds the local queues, created on demand.

The local queues are rows, so messages survive a restart of the sender, the devhost or the
database. One table holds every queue; a dead-lettered message moves to the queue named
``{queue}/$deadletterqueue`` (Service Bus's own naming), keeping its reason and description.
``message_ids`` remembers recent ``message_id`` values for duplicate detection.

:func:`ensure_schema` is idempotent and safe from two processes at once: a transaction-level
advisory lock serialises the creators and every statement is ``IF NOT EXISTS``.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

#: "devhost queues" as a constant shared by every process that creates the schema.
SCHEMA_LOCK_KEY = 0x4445_5651_5545_5545

#: NOTIFY channel; the payload is the queue name a message was sent to.
NOTIFY_CHANNEL = "devhost_messages"

#: Suffix of a queue's dead-letter queue, as in Service Bus.
DEAD_LETTER_SUFFIX = "/$deadletterqueue"

DDL = """
CREATE SCHEMA IF NOT EXISTS devhost;

CREATE TABLE IF NOT EXISTS devhost.messages (
    sequence_number         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue                   text        NOT NULL,
    message_id              text        NOT NULL,
    body                    bytea       NOT NULL,
    content_type            text,
    application_properties  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    enqueued_at             timestamptz NOT NULL DEFAULT now(),
    scheduled_enqueue_time  timestamptz,
    visible_at              timestamptz NOT NULL DEFAULT now(),
    delivery_count          integer     NOT NULL DEFAULT 0 CHECK (delivery_count >= 0),
    lock_token              uuid,
    locked_until            timestamptz,
    dead_letter_source      text,
    dead_letter_reason      text,
    dead_letter_description text,
    dead_lettered_at        timestamptz
);

CREATE INDEX IF NOT EXISTS messages_visible
    ON devhost.messages (queue, visible_at, sequence_number);

CREATE TABLE IF NOT EXISTS devhost.message_ids (
    queue      text        NOT NULL,
    message_id text        NOT NULL,
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (queue, message_id)
);

CREATE INDEX IF NOT EXISTS message_ids_sent_at ON devhost.message_ids (sent_at);
"""


async def ensure_schema(conn: AsyncConnection[Any]) -> None:
    """Create the ``devhost`` schema and its tables if missing, then commit."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        exists = await conn.execute("SELECT to_regclass('devhost.message_ids') IS NOT NULL")
        row = await exists.fetchone()
        if row is None or not row[0]:
            await conn.execute(DDL)
