"""A candidate's ATS state recomputed from what happened to them, after a rule change.

``SCORE_BANDS``, ``PASS_MARKS`` and ``STAGE_RULES`` apply to events as they are processed; a
change applies to later events only. ``python -m ops candidates rebuild PORTAL_ID`` replays the
candidate's history under today's rules: their stored events (``webhook_events`` with the
candidate's ``portal_candidate_id`` and a stored payload, read again as the processor reads a
message) and the ATS commands that changed their stage (``sync_queue``: a ``candidate.status``
sets the stage when it arrives, whatever it was, the ATS being the authority; an ``offer.send``
the portal accepted moves it forward to ``offer``), merged in time order (an event's
``created_at``, a command's arrival or completion), through the processor's own decisions
(:func:`shared.inbound.decide.decide`) on an in-memory candidate that starts ``new``.

What it may change, in one transaction under the candidate's row lock (so no batch of the
processor interleaves): the candidate's ``stage`` (with a history row, reason ``rebuilt after a
rule change``), ``needs_review`` (set, never cleared: only the ATS clears it), and each AI
screening's or assessment's ``band`` / ``passed``. A candidate in a final stage (hired,
rejected, withdrawn) keeps it: such a stage may come from the ATS's own database, which this
history does not see. Profiles, documents, interviews and offers are facts, not rule outcomes,
and are left as they are. The dry run computes the same and prints the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from shared.errors import ConfigurationError
from shared.inbound.changes import InboundEvent
from shared.inbound.decide import BatchState, decide
from shared.inbound.decode import decode
from shared.inbound.store import CandidateRow
from shared.inbound.writes import AssessmentRow
from shared.outcomes import Failed
from shared.queued import QueuedMessage
from shared.recovery import audit
from shared.rules import FINAL_STAGES, ScoringRules, Stage, proposed_stage_change
from shared.settings import setting

ACTION = "candidates.rebuild"
REASON = "rebuilt after a rule change"

CANDIDATE = """
SELECT id, stage, needs_review FROM candidates WHERE portal_candidate_id = %(portal_id)s FOR UPDATE
"""

EVENTS = """
SELECT event_id, payload::text AS payload, received_at FROM webhook_events
WHERE portal_candidate_id = %(portal_id)s AND payload <> '{}'::jsonb
ORDER BY id
"""

# The ATS commands that moved the stage, as the outbound flow stores them (payload: the command
# as sent, and the portal candidate it was for, which only a command taken at intake has: one
# refused at intake set nothing). A candidate.status sets the stage at intake, whatever its
# delivery to the portal later does; an offer.send moves it when the portal accepted it.
COMMANDS = """
SELECT command_id, operation_type, status, created_at, completed_at,
       payload -> 'command' -> 'data' ->> 'stage' AS stage
FROM sync_queue
WHERE payload ->> 'portal_candidate_id' = %(portal_id)s
  AND (operation_type = 'candidate.status' OR (operation_type = 'offer.send' AND status = 'completed'))
"""

ASSESSMENTS = """
SELECT portal_assessment_id, band, passed FROM portal_assessments WHERE candidate_id = %(candidate_id)s
"""

SET_CANDIDATE = """
UPDATE candidates SET stage = %(stage)s, needs_review = %(needs_review)s, updated_at = now() WHERE id = %(id)s
"""

HISTORY = """
INSERT INTO candidate_stage_history (candidate_id, from_stage, to_stage, reason, source_event_id)
VALUES (%(id)s, %(from_stage)s, %(to_stage)s, %(reason)s, NULL)
"""

SET_ASSESSMENT = """
UPDATE portal_assessments
SET band = %(band)s, passed = %(passed)s, updated_at = now(),
    details = CASE WHEN %(result)s::text IS NULL THEN details
                   ELSE coalesce(details, '{}'::jsonb) || jsonb_build_object('result', %(result)s::text) END
WHERE portal_assessment_id = %(portal_assessment_id)s
"""


class CandidateNotFound(LookupError):
    """No candidate with that portal id in the ATS."""


@dataclass(frozen=True, slots=True)
class StageCommand:
    """An ATS command that changed the stage: set it (``candidate.status``) or move it forward."""

    command_id: str
    at: datetime
    stage: Stage
    unconditional: bool


@dataclass(frozen=True, slots=True)
class Assessed:
    band: str | None
    passed: bool | None
    result: str | None = None


@dataclass(slots=True)
class Rebuilt:
    stage: str
    needs_review: bool
    assessments: dict[str, Assessed] = field(default_factory=dict)
    steps: int = 0
    unreadable: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    what: str  # "stage", "needs_review", "assessment <id>"
    now: object
    rebuilt: object
    applied: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "now": self.now,
            "rebuilt": self.rebuilt,
            "applied": self.applied,
            "note": self.note,
        }


def replay_history(
    candidate_id: UUID,
    portal_id: str,
    events: Sequence[InboundEvent],
    commands: Sequence[StageCommand],
    rules: ScoringRules,
) -> Rebuilt:
    """The candidate's stage, review flag and assessments after their history, under ``rules``."""
    row = CandidateRow(candidate_id, portal_id, Stage.NEW.value, False, None)
    state = BatchState({portal_id: row})
    steps: list[tuple[datetime, int, InboundEvent | StageCommand]] = [
        *((event.created_at, n, event) for n, event in enumerate(events)),
        *((command.at, len(events) + n, command) for n, command in enumerate(commands)),
    ]
    assessments: dict[str, Assessed] = {}
    for _, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        if isinstance(step, StageCommand):
            if step.unconditional:
                row.stage = step.stage.value
            elif (moved := proposed_stage_change(Stage(row.stage), step.stage)) is not None:
                row.stage = moved.value
            continue
        decision = decide(step, state, rules)
        for write in decision.writes:
            if isinstance(write, AssessmentRow):
                result = write.details.get("result") if write.details else None
                assessments[write.portal_assessment_id] = Assessed(write.band, write.passed, result)
    return Rebuilt(row.stage, row.needs_review, assessments, len(steps))


def rules_from(environ: Mapping[str, str]) -> ScoringRules:
    """Today's rules from the settings the app reads (``SCORE_BANDS``, ``PASS_MARKS``,
    ``STAGE_RULES``; defaults when unset); an error names the setting."""

    def parsed(name: str) -> Any:
        raw = setting(environ, name)
        if raw is None:
            return None
        try:
            return json.loads(raw, parse_float=Decimal, parse_int=Decimal)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{name} is not valid JSON: {exc.msg}") from None

    bands, marks, stage_rules = parsed("SCORE_BANDS"), parsed("PASS_MARKS"), parsed("STAGE_RULES")
    defaults = ScoringRules()
    try:
        return ScoringRules.from_settings(
            score_bands=bands if bands is not None else {b.value: f for b, f in defaults.band_floors.items()},
            pass_marks=marks if marks is not None else dict(defaults.pass_marks),
            stage_rules=stage_rules,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"SCORE_BANDS, PASS_MARKS or STAGE_RULES: {exc}") from None


async def _history(
    conn: AsyncConnection[Any], portal_id: str, *, portal_base_url: str
) -> tuple[list[InboundEvent], list[StageCommand], list[str]]:
    now = datetime.now(UTC)
    events: list[InboundEvent] = []
    unreadable: list[str] = []
    async with conn.cursor(row_factory=dict_row) as cursor:
        for row in await (await cursor.execute(EVENTS, {"portal_id": portal_id})).fetchall():
            message = QueuedMessage(
                body=row["payload"].encode("utf-8"),
                message_id=row["event_id"],
                application_properties={"received_at": row["received_at"].isoformat()},
            )
            item = decode(message, portal_base_url=portal_base_url, now=now)
            if item.event is not None and item.event.change is not None:
                events.append(item.event)
            elif isinstance(item.settled, Failed):
                unreadable.append(row["event_id"])
        commands = []
        for row in await (await cursor.execute(COMMANDS, {"portal_id": portal_id})).fetchall():
            if row["operation_type"] == "candidate.status" and row["stage"] in Stage._value2member_map_:
                commands.append(
                    StageCommand(str(row["command_id"]), row["created_at"], Stage(row["stage"]), True)
                )
            elif row["operation_type"] == "offer.send" and row["completed_at"] is not None:
                commands.append(StageCommand(str(row["command_id"]), row["completed_at"], Stage.OFFER, False))
    return events, commands, unreadable


async def rebuild(
    conn: AsyncConnection[Any],
    portal_id: str,
    rules: ScoringRules,
    *,
    portal_base_url: str,
    apply: bool,
    actor: str,
) -> tuple[Rebuilt, list[Change]]:
    """Recompute (and with ``apply``, write) the candidate's state; returns it and the differences.

    Raises :class:`CandidateNotFound`. The transaction rolls back when ``apply`` is false, so a
    dry run changes nothing even by accident.
    """
    async with conn.transaction() as tx:
        async with conn.cursor(row_factory=dict_row) as cursor:
            current = await (await cursor.execute(CANDIDATE, {"portal_id": portal_id})).fetchone()
        if current is None:
            raise CandidateNotFound(portal_id)
        events, commands, unreadable = await _history(conn, portal_id, portal_base_url=portal_base_url)
        rebuilt = replay_history(current["id"], portal_id, events, commands, rules)
        rebuilt.unreadable = unreadable
        changes = _differences(current, rebuilt, await _assessments(conn, current["id"]))
        if not apply:
            raise psycopg.Rollback(tx)  # the dry run leaves nothing behind, not even a lock
        await _write(conn, current, rebuilt, changes)
        details = {
            "changes": [{"what": c.what, "applied": c.applied} for c in changes],
            "steps": rebuilt.steps,
        }
        await audit.record(conn, ACTION, portal_id, details, actor=actor)
    return rebuilt, changes


async def _assessments(conn: AsyncConnection[Any], candidate_id: UUID) -> dict[str, Assessed]:
    async with conn.cursor(row_factory=dict_row) as cursor:
        rows = await (await cursor.execute(ASSESSMENTS, {"candidate_id": candidate_id})).fetchall()
    return {row["portal_assessment_id"]: Assessed(row["band"], row["passed"]) for row in rows}


def _differences(
    current: Mapping[str, Any], rebuilt: Rebuilt, stored: Mapping[str, Assessed]
) -> list[Change]:
    changes: list[Change] = []
    if rebuilt.stage != current["stage"]:
        if Stage(current["stage"]) in FINAL_STAGES:
            changes.append(
                Change("stage", current["stage"], rebuilt.stage, False, "kept: a final stage is never left")
            )
        else:
            changes.append(Change("stage", current["stage"], rebuilt.stage, True))
    if rebuilt.needs_review != current["needs_review"]:
        applies = rebuilt.needs_review and Stage(current["stage"]) not in FINAL_STAGES
        note = (
            ""
            if applies
            else "kept: only the ATS clears needs_review"
            if current["needs_review"]
            else "kept: final stage"
        )
        changes.append(Change("needs_review", current["needs_review"], rebuilt.needs_review, applies, note))
    for portal_assessment_id, computed in sorted(rebuilt.assessments.items()):
        held = stored.get(portal_assessment_id)
        if held is None:
            continue  # recorded by another path (a later event not yet processed): not the rules' business
        if (held.band, held.passed) != (computed.band, computed.passed):
            changes.append(
                Change(
                    f"assessment {portal_assessment_id}",
                    {"band": held.band, "passed": held.passed},
                    {"band": computed.band, "passed": computed.passed},
                    True,
                )
            )
    return changes


async def _write(
    conn: AsyncConnection[Any], current: Mapping[str, Any], rebuilt: Rebuilt, changes: list[Change]
) -> None:
    applied = {c.what for c in changes if c.applied}
    stage = rebuilt.stage if "stage" in applied else current["stage"]
    needs_review = True if "needs_review" in applied else current["needs_review"]
    if {"stage", "needs_review"} & applied:
        await conn.execute(SET_CANDIDATE, {"id": current["id"], "stage": stage, "needs_review": needs_review})
    if "stage" in applied:
        await conn.execute(
            HISTORY,
            {"id": current["id"], "from_stage": current["stage"], "to_stage": stage, "reason": REASON},
        )
    for what in applied:
        if what.startswith("assessment "):
            portal_assessment_id = what.removeprefix("assessment ")
            computed = rebuilt.assessments[portal_assessment_id]
            await conn.execute(
                SET_ASSESSMENT,
                {
                    "portal_assessment_id": portal_assessment_id,
                    "band": computed.band,
                    "passed": computed.passed,
                    "result": computed.result,
                },
            )
