"""``python -m ops candidates rebuild|erase`` end to end: candidates made by the real receiver and
processor, rules changed, data erased from every table, blob and queue message the app holds."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from azure.storage.blob.aio import BlobServiceClient
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.support import events as ev
from tests.support.ops import Ops


@pytest.fixture
def ops(capsys, portal_environ) -> Ops:
    return Ops(capsys, portal_environ)


async def deliver(pipeline, *events: dict[str, Any]) -> None:
    for event in events:
        assert (await pipeline.post(event)).status == 202, event["type"]
    await pipeline.drain()


def state(pipeline, portal_id: str) -> dict[str, Any]:
    return pipeline.rows(
        "SELECT stage, needs_review FROM candidates WHERE portal_candidate_id = %s", portal_id
    )[0]


# --------------------------------------------------------------------------- rebuild


async def test_a_rule_change_is_applied_to_a_candidate_by_rebuilding_them(pipeline, ops):
    cand = ev.candidate()
    screening = ev.screening_event(cand["id"], 65, "advance", created=1)
    await deliver(pipeline, ev.profile_event(cand), screening)
    assert state(pipeline, cand["id"]) == {"stage": "screening", "needs_review": True}  # moderate: review

    new_rules = {"SCORE_BANDS": json.dumps({"weak": 0, "moderate": 40, "strong": 60})}
    dry = await ops(
        "candidates", "rebuild", cand["id"], "--dry-run", "--json", environ={**ops.environ, **new_rules}
    )
    assert dry.status == 0, dry.err
    changes = {c["what"]: c for c in dry.data["changes"]}
    assert (changes["stage"]["now"], changes["stage"]["rebuilt"], changes["stage"]["applied"]) == (
        "screening",
        "assessment",
        True,
    )
    assert changes["needs_review"]["applied"] is False  # only the ATS clears it
    assert "kept: only the ATS clears needs_review" in changes["needs_review"]["note"]
    [screening_id] = [w for w in changes if w.startswith("assessment ")]
    assert changes[screening_id]["rebuilt"] == {"band": "strong", "passed": None}
    assert state(pipeline, cand["id"]) == {
        "stage": "screening",
        "needs_review": True,
    }  # the dry run changed nothing
    assert pipeline.rows("SELECT band FROM portal_assessments") == [{"band": "moderate"}]

    run = await ops("candidates", "rebuild", cand["id"], environ={**ops.environ, **new_rules})
    assert run.status == 0, run.err
    assert state(pipeline, cand["id"]) == {"stage": "assessment", "needs_review": True}
    assert pipeline.rows("SELECT band FROM portal_assessments") == [{"band": "strong"}]
    history = pipeline.rows("SELECT from_stage, to_stage, reason FROM candidate_stage_history ORDER BY id")
    assert history[-1] == {
        "from_stage": "screening",
        "to_stage": "assessment",
        "reason": "rebuilt after a rule change",
    }
    [audited] = pipeline.rows("SELECT action, subject FROM audit_log")
    assert audited == {"action": "candidates.rebuild", "subject": cand["id"]}
    again = await ops("candidates", "rebuild", cand["id"], "--json", environ={**ops.environ, **new_rules})
    assert [c for c in again.data["changes"] if c["applied"]] == []  # rebuilt once, nothing left to do


async def test_a_lower_pass_mark_moves_a_candidate_who_now_passes(pipeline, ops):
    cand = ev.candidate()
    await deliver(pipeline, ev.profile_event(cand), ev.assessment_event(cand["id"], 55, created=1))
    assert state(pipeline, cand["id"]) == {"stage": "new", "needs_review": True}
    run = await ops(
        "candidates", "rebuild", cand["id"], environ={**ops.environ, "PASS_MARKS": '{"default": 50}'}
    )
    assert run.status == 0, run.err
    assert state(pipeline, cand["id"])["stage"] == "interview"
    assert pipeline.rows("SELECT passed, details->>'result' AS result FROM portal_assessments") == [
        {"passed": True, "result": "passed"}
    ]


async def test_a_final_stage_is_kept_and_an_ats_status_command_counts(pipeline, ops):
    cand = ev.candidate()
    await deliver(pipeline, ev.profile_event(cand), ev.screening_event(cand["id"], 90, "advance", created=1))
    [candidate] = pipeline.rows("SELECT id FROM candidates")
    # the ATS rejected the candidate (a candidate.status command, as the outbound flow stores it)
    pipeline.rows(
        "INSERT INTO sync_queue (command_id, operation_type, entity_id, payload, status, created_at) "
        "VALUES (%s, 'candidate.status', %s, %s, 'completed', now()) RETURNING 1",
        uuid.uuid4(),
        str(candidate["id"]),
        Jsonb(
            {
                "command": {"type": "candidate.status", "data": {"stage": "rejected"}},
                "portal_candidate_id": cand["id"],
            }
        ),
    )
    pipeline.rows("UPDATE candidates SET stage = 'rejected' RETURNING 1")
    run = await ops("candidates", "rebuild", cand["id"], "--json")
    assert run.data["rebuilt"]["stage"] == "rejected"
    assert run.data["changes"] == []
    # with a history that says otherwise, a final stage is still never left
    pipeline.rows("DELETE FROM sync_queue RETURNING 1")
    kept = await ops("candidates", "rebuild", cand["id"], "--json")
    [change] = kept.data["changes"]
    assert (change["what"], change["applied"], change["note"]) == (
        "stage",
        False,
        "kept: a final stage is never left",
    )
    assert state(pipeline, cand["id"])["stage"] == "rejected"


async def test_rebuilding_an_unknown_candidate_says_so(ops):
    run = await ops("candidates", "rebuild", "cand_nobody")
    assert run.status == 1
    assert "no candidate cand_nobody" in run.out


# --------------------------------------------------------------------------- erase


@pytest.fixture
async def container(portal_environ) -> AsyncIterator[Any]:
    service = BlobServiceClient.from_connection_string(portal_environ["DocumentsStorage"])
    client = service.get_container_client(portal_environ["DOCUMENTS_CONTAINER"])
    if not await client.exists():
        await client.create_container()
    yield client
    await client.delete_container()
    await service.close()


def everywhere(database_url: str, needle: str) -> dict[str, int]:
    """Rows of every table of the app (and devhost's queues) whose text holds ``needle``."""
    found: dict[str, int] = {}
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'devhost') AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            text = sql.SQL("t::text")
            if (schema, table) == ("devhost", "messages"):
                text = sql.SQL("convert_from(t.body, 'UTF8') || t::text")
            query = sql.SQL("SELECT count(*) FROM {}.{} AS t WHERE strpos({}, %s) > 0").format(
                sql.Identifier(schema), sql.Identifier(table), text
            )
            [(n,)] = conn.execute(query, (needle,)).fetchall()
            if n:
                found[f"{schema}.{table}"] = n
    return found


async def blobs_under(container, prefix: str) -> list[str]:
    return [blob.name async for blob in container.list_blobs(name_starts_with=prefix)]


async def test_erasure_leaves_no_personal_data_in_any_table_blob_or_queue_message(pipeline, ops, container):
    marker = uuid.uuid4().hex[:10]
    cand = ev.candidate(phone="+447700900123", headline=f"Engineer {marker}", last_name=f"Byron{marker}")
    other = ev.candidate()
    secrets_of = [cand["email"], cand["last_name"], "7700900123", marker]
    document = ev.document_event(cand["id"], portal=pipeline.runtime.settings.portal_base_url, created=2)
    await deliver(
        pipeline,
        ev.profile_event(cand),
        ev.profile_event(other),
        ev.screening_event(cand["id"], 80, "advance", created=1),
        document,
    )
    # refused at the door with its payload kept; a parked message; a dead letter; an ATS command
    refused = ev.profile_event({**cand, "phone": "not a phone"}, kind="candidate.updated")
    assert (await pipeline.post(refused)).status == 422
    later = ev.profile_event({**cand, "headline": "Later"}, kind="candidate.updated", created=5)
    pipeline.rows(
        "INSERT INTO parked_messages (queue, message_id, body, reason, attempts) "
        "VALUES ('portal-events', %s, %s, 'transient failures for 24 hours', 40) RETURNING 1",
        later["id"],
        Jsonb(later),
    )
    dead = ev.profile_event({**cand, "headline": "Dead"}, kind="candidate.updated", created=6)
    pipeline.rows(
        "INSERT INTO devhost.messages (queue, message_id, body, dead_letter_reason) "
        "VALUES ('portal-events/$deadletterqueue', %s, %s, 'MaxDeliveryCountExceeded') RETURNING 1",
        dead["id"],
        ev.body_of(dead),
    )
    [held] = pipeline.rows("SELECT id FROM candidates WHERE portal_candidate_id = %s", cand["id"])
    ats_id = str(held["id"])
    pipeline.rows(
        "INSERT INTO sync_queue (command_id, operation_type, entity_id, payload, status, next_retry) "
        "VALUES (%s, 'offer.send', %s, %s, 'pending', now()) RETURNING 1",
        uuid.uuid4(),
        str(uuid.uuid4()),
        Jsonb(
            {
                "command": {"candidate_id": ats_id, "data": {"title": "Analyst"}},
                "portal_candidate_id": cand["id"],
            }
        ),
    )
    [other_held] = pipeline.rows("SELECT id FROM candidates WHERE portal_candidate_id = %s", other["id"])
    for name in (f"{ats_id}/doc/abc", f"quarantine/{ats_id}/doc/def", f"{other_held['id']}/doc/ghi"):
        await container.upload_blob(name, b"%PDF-1.7 cv", overwrite=True)
    for secret in secrets_of:
        assert everywhere(pipeline.database_url, secret)  # the data is there to begin with

    dry = await ops("candidates", "erase", cand["id"], "--dry-run", "--json")
    assert dry.status == 0, dry.err
    assert dry.data["rows"]["candidates"] == 1
    assert dry.data["rows"]["webhook_events"] == 3
    assert dry.data["blobs"] == 2
    assert dry.data["dead_letters_resubmitted"] == [dead["id"]]
    assert everywhere(pipeline.database_url, cand["email"])  # nothing changed
    assert len(await blobs_under(container, f"{ats_id}/")) == 1

    run = await ops("candidates", "erase", cand["id"])
    assert run.status == 0, run.err
    await pipeline.drain()  # the resubmitted dead letter: ignored, as erased
    for secret in secrets_of:
        assert everywhere(pipeline.database_url, secret) == {}, secret
    assert await blobs_under(container, f"{ats_id}/") == []
    assert await blobs_under(container, f"quarantine/{ats_id}/") == []
    assert await blobs_under(container, f"{other_held['id']}/") == [f"{other_held['id']}/doc/ghi"]
    assert everywhere(pipeline.database_url, other["email"])  # the other candidate is untouched
    assert pipeline.rows("SELECT portal_candidate_id FROM erased_candidates") == [
        {"portal_candidate_id": cand["id"]}
    ]
    # event ids stay; an unfinished command about them ended failed
    assert len(pipeline.rows("SELECT 1 FROM webhook_events WHERE portal_candidate_id = %s", cand["id"])) == 3
    assert pipeline.rows("SELECT status, last_error FROM sync_queue") == [
        {"status": "failed", "last_error": "candidate erased"}
    ]
    [audited] = pipeline.rows("SELECT action, subject, details::text AS details FROM audit_log")
    assert (audited["action"], audited["subject"]) == ("candidates.erase", cand["id"])
    assert not any(secret in audited["details"] for secret in secrets_of)

    # a later event about them is ignored and its payload never stored
    assert (await pipeline.post(later)).status == 202
    await pipeline.drain()
    [row] = pipeline.rows(
        "SELECT status, last_error, payload FROM webhook_events WHERE event_id = %s", later["id"]
    )
    assert row == {"status": "ignored", "last_error": "erased", "payload": {}}
    assert everywhere(pipeline.database_url, cand["email"]) == {}
    # and running it again finishes nothing more, without error
    assert (await ops("candidates", "erase", cand["id"])).status == 0


async def test_erasing_needs_the_documents_storage(ops, portal_environ):
    environ = {k: v for k, v in portal_environ.items() if k != "DocumentsStorage"}
    run = await ops("candidates", "erase", "cand_someone", environ=environ)
    assert run.status == 2
    assert "DocumentsStorage" in run.err
