"""Intake of an ATS command: one transaction that decides what the command is and records it.

Pipelined (psycopg pipeline mode): one round trip for the reads, one for the writes. Locks are
taken in the one order of :mod:`shared.outbound.store` (the candidate, its unfinished rows, the
interview or offer). A command that can never be valid becomes a ``failed`` row (and its
interview or offer ``failed`` when the candidate exists); a valid one upserts its interview or
offer, sets the stage (``candidate.status``), supersedes older pending status changes, and is
inserted ``processing`` with a lease, or ``pending`` behind an older unfinished row of its
candidate. A command recorded before is found by its row's UNIQUE ``command_id``, inserted
last, and rolls the transaction back (:class:`Duplicate`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared.db import transaction
from shared.outbound import store
from shared.outbound.attempts import Claim
from shared.outbound.commands import Command, CommandType, Invalid
from shared.outcomes import Failed, Outcome, Processed
from shared.rules import Stage, stage_set_by_ats

log = logging.getLogger(__name__)


class Duplicate(Exception):
    """Raised inside the intake transaction (rolling it back) when the command is already there."""


_ENTITY_FAILED_AT_INTAKE: Final[Mapping[str, str]] = {
    CommandType.INTERVIEW_REQUEST.value: store.FAILED_INTERVIEW_AT_INTAKE,
    CommandType.OFFER_SEND.value: store.FAILED_OFFER_AT_INTAKE,
}


async def intake(
    db: AsyncConnectionPool, command: Command | Invalid, *, now: datetime, lease: timedelta
) -> tuple[Claim | None, Outcome]:
    """The intake of one command (module docstring): what the message ends as, and the row to
    attempt first when it was inserted ``processing``. Raises :class:`Duplicate` (the
    transaction rolled back) when the command was recorded before."""
    async with transaction(db) as conn, conn.pipeline():
        # A command seen before is found by its row's UNIQUE command_id when it is inserted
        # last: Duplicate then rolls back whatever this transaction changed before.
        reads = await _read_for_intake(conn, command)
        if isinstance(command, Invalid):
            return None, await _record_invalid(conn, command, reads.candidate is not None, now)
        if reads.candidate is None:
            invalid = _invalid_from(command, "candidate_id: unknown candidate")
            return None, await _record_invalid(conn, invalid, False, now)
        sql = _ENTITY_INTAKE.get(command.type)
        if sql is not None and reads.entity is not None and reads.entity[0] != command.candidate_id:
            # The portal would take it, and its answer would then apply to the wrong candidate.
            refused = _invalid_from(command, f"data.{sql.field}: belongs to another candidate")
            return None, await _record_invalid(conn, refused, True, now)
        stale = [
            r["id"]
            for r in reads.open_rows
            if command.type is CommandType.CANDIDATE_STATUS
            and r["operation_type"] == CommandType.CANDIDATE_STATUS.value
            and r["status"] == "pending"
        ]
        waits = len(reads.open_rows) > len(stale)
        owner = uuid.uuid4()
        portal_id = reads.candidate["portal_candidate_id"]
        payload = {
            "command": command.document,
            "portal_candidate_id": portal_id,
            "request": command.portal_body(portal_id),
        }
        if sql is not None:
            details = {k: v for k, v in command.fields.items() if k != sql.field}
            await conn.execute(
                sql.insert if reads.entity is None else sql.update,
                {
                    "id": command.entity_id,
                    "candidate_id": command.candidate_id,
                    "timezone": command.fields.get("timezone"),
                    "details": Jsonb({"ats": details}),
                },
            )
        row = await conn.execute(
            store.INSERT_ROW,
            {
                "command_id": command.command_id,
                "operation_type": command.type.value,
                "entity_id": command.entity_key,
                "candidate_id": command.candidate_id,
                "payload": Jsonb(payload),
                "status": "pending" if waits else "processing",
                "next_retry": now if waits else None,
                "lease_until": None if waits else now + lease,
                "lease_owner": None if waits else owner,
                "last_error": None,
                "now": now,
            },
        )
        if stale:
            await conn.execute(
                store.SUPERSEDE_FOR_CANDIDATE,
                {"command_id": command.command_id, "ids": stale, "now": now},
            )
        if command.stage is not None:
            await _set_stage(conn, command, Stage(reads.candidate["stage"]), command.stage)
        inserted = await row.fetchone()
        if inserted is None:  # a concurrent delivery of the same command won
            raise Duplicate
    claim = None
    if not waits:
        claim = Claim(
            id=inserted[0],
            command_id=command.command_id,
            operation=command.type,
            entity_id=command.entity_key,
            candidate_id=command.candidate_id,
            payload=payload,
            retry_count=0,
            owner=owner,
        )
    return claim, Processed()


@dataclass(frozen=True, slots=True)
class _EntityIntake:
    """The statements that prepare a command's interview or offer at intake."""

    lock: str
    insert: str
    update: str
    field: str


_ENTITY_INTAKE: Final[Mapping[CommandType, _EntityIntake]] = {
    CommandType.INTERVIEW_REQUEST: _EntityIntake(
        store.LOCK_INTERVIEW, store.INSERT_INTERVIEW, store.UPDATE_INTERVIEW_AT_INTAKE, "request_id"
    ),
    CommandType.OFFER_SEND: _EntityIntake(
        store.LOCK_OFFER, store.INSERT_OFFER, store.UPDATE_OFFER_AT_INTAKE, "offer_id"
    ),
}


@dataclass(frozen=True, slots=True)
class _IntakeReads:
    """What intake decides on, read (and locked) in one pipelined round trip."""

    candidate: dict[str, Any] | None
    open_rows: list[dict[str, Any]]
    entity: tuple[Any, ...] | None


async def _read_for_intake(conn: AsyncConnection[Any], command: Command | Invalid) -> _IntakeReads:
    """The candidate, its unfinished rows and the interview or offer, locked in the one order
    (candidate, rows, entity); sent together."""
    candidate = open_rows = entity = None
    if command.candidate_id is not None:
        candidate = conn.cursor(row_factory=dict_row)
        await candidate.execute(store.LOCK_CANDIDATE, (command.candidate_id,))
    if isinstance(command, Command):
        open_rows = conn.cursor(row_factory=dict_row)
        await open_rows.execute(store.LOCK_OPEN_ROWS, (command.candidate_id,))
        sql = _ENTITY_INTAKE.get(command.type)
        if sql is not None:
            entity = await conn.execute(sql.lock, (command.entity_id,))
    return _IntakeReads(
        candidate=await candidate.fetchone() if candidate is not None else None,
        open_rows=await open_rows.fetchall() if open_rows is not None else [],
        entity=await entity.fetchone() if entity is not None else None,
    )


async def _record_invalid(
    conn: AsyncConnection[Any], command: Invalid, candidate_exists: bool, now: datetime
) -> Outcome:
    """A command that can never be valid: a ``failed`` row with its reason, and its interview
    or offer ``failed`` when the candidate exists."""
    row = await conn.execute(
        store.INSERT_ROW,
        {
            "command_id": command.command_id,
            "operation_type": command.operation_type,
            "entity_id": command.entity_key,
            "candidate_id": command.candidate_id if candidate_exists else None,
            "payload": Jsonb({"command": command.document}),
            "status": "failed",
            "next_retry": None,
            "lease_until": None,
            "lease_owner": None,
            "last_error": command.reason,
            "now": now,
        },
    )
    statement = _ENTITY_FAILED_AT_INTAKE.get(command.operation_type)
    if candidate_exists and statement is not None and command.entity_id is not None:
        await conn.execute(statement, {"entity_id": command.entity_id, "candidate_id": command.candidate_id})
    if await row.fetchone() is None:
        raise Duplicate  # rolls the transaction back, the entity change with it
    log.warning("command %s refused: %s", command.command_id, command.reason)
    return Failed(command.reason)


async def _set_stage(conn: AsyncConnection[Any], command: Command, current: Stage, commanded: Stage) -> None:
    """``candidate.status`` sets the stage unconditionally (the ATS is the authority)."""
    target = stage_set_by_ats(current, commanded)
    if target is None:
        return
    await conn.execute(store.SET_STAGE, (target.value, command.candidate_id))
    await conn.execute(
        store.INSERT_HISTORY,
        (command.candidate_id, current.value, target.value, command.type.value, str(command.command_id)),
    )


def _invalid_from(command: Command, reason: str) -> Invalid:
    return Invalid(
        command_id=command.command_id,
        operation_type=command.type.value,
        candidate_id=command.candidate_id,
        entity_id=command.entity_id,
        entity_key=command.entity_key,
        reason=reason,
        document=command.document,
    )
