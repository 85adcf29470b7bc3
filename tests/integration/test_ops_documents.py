"""``python -m ops documents``: the operator sees failed and rejected documents with their reasons,
and a retry queues the transfer again, which then succeeds once the cause is gone."""

from __future__ import annotations

import base64

import pytest

from ops.documents import COLUMNS
from shared import outbox
from shared.outcomes import Failed, Processed
from tests.support.documents import Documents, recording_alerts
from tests.support.ops import Ops

DOCUMENT_KEYS = {
    "document_id",
    "portal_document_id",
    "portal_candidate_id",
    "kind",
    "content_type",
    "size_bytes",
    "status",
    "attempts",
    "blob_path",
    "reason",
    "updated_at",
}


@pytest.fixture
def ops(capsys, database_url) -> Ops:
    return Ops(capsys, {"DATABASE_URL": database_url})


@pytest.fixture
async def docs(pipeline, portal) -> Documents:
    recording_alerts(pipeline.runtime)
    return Documents(pipeline, portal)


async def failed_and_verified(docs: Documents) -> tuple[dict, dict, dict]:
    corrupt = await docs.upload(content_type="application/pdf", size_bytes=3000)
    await docs.portal.admin.add_fault("corrupt_document", count=1)
    assert await docs.transfer() == [
        Failed("the sha256 of the bytes the portal sent differs from the event's")
    ]
    gone = await docs.upload(content_type="text/plain", size_bytes=500)
    del docs.portal.state.documents[gone["id"]]
    assert await docs.transfer() == [Failed("the portal has no such document (404)")]
    fine = await docs.upload(content_type="image/png", size_bytes=3000)
    await docs.settle()
    return corrupt, gone, fine


async def test_list_shows_failed_documents_with_their_reasons(ops, docs) -> None:
    corrupt, gone, fine = await failed_and_verified(docs)
    run = await ops("documents", "list", "--status", "failed")
    assert run.status == 0, run.err
    header, *rows, summary = run.lines
    assert header.split() == list(COLUMNS)
    assert summary == "2 document(s)"
    assert {row.split()[1] for row in rows} == {corrupt["id"], gone["id"]}
    assert any("the portal has no such document (404)" in row for row in rows)
    every = await ops("documents", "list", "--json")
    assert every.status == 0
    assert every.data["count"] == 3
    assert every.data["more"] is False
    assert all(set(d) == DOCUMENT_KEYS for d in every.data["documents"])
    verified = [d for d in every.data["documents"] if d["status"] == "verified"]
    assert [d["portal_document_id"] for d in verified] == [fine["id"]]
    assert verified[0]["blob_path"] == docs.blob_name(fine)
    none = await ops("documents", "list", "--status", "rejected", "--json")
    assert none.status == 0
    assert none.data == {"count": 0, "more": False, "documents": []}


async def test_a_retry_queues_the_transfer_again_and_it_then_succeeds(ops, docs) -> None:
    corrupt, gone, _ = await failed_and_verified(docs)
    dry = await ops("documents", "retry", corrupt["id"], "--dry-run", "--json")
    assert dry.status == 0, dry.err
    assert dry.data["dry_run"] is True
    assert [d["portal_document_id"] for d in dry.data["retried"]] == [corrupt["id"]]
    assert docs.row(corrupt)["status"] == "failed"
    assert docs.pipeline.rows("SELECT 1 FROM outbox WHERE message_id LIKE 'retry:%%'") == []

    run = await ops("documents", "retry", docs.row(corrupt)["uuid"])
    assert run.status == 0, run.err
    assert run.lines[0] == "queued 1 transfer(s); the outbox relay sends them within about 10 s"
    row = docs.row(corrupt)
    assert (row["status"], row["last_error"]) == ("pending", None)
    await outbox.flush(docs.runtime.db, docs.runtime.sender)  # what the relay timer does
    await docs.settle()
    assert docs.row(corrupt)["status"] == "verified"
    assert await docs.blob_bytes(docs.blob_name(corrupt)) == docs.content(corrupt)
    assert docs.row(gone)["status"] == "failed"


async def test_retry_all_failed_takes_every_failed_document(ops, docs) -> None:
    corrupt, gone, fine = await failed_and_verified(docs)
    run = await ops("documents", "retry", "--all-failed", "--json")
    assert run.status == 0, run.err
    assert sorted(d["portal_document_id"] for d in run.data["retried"]) == sorted([corrupt["id"], gone["id"]])
    assert {docs.row(d)["status"] for d in (corrupt, gone)} == {"pending"}
    assert docs.row(fine)["status"] == "verified"
    again = await ops("documents", "retry", "--all-failed")
    assert again.status == 1
    assert again.lines == ["no failed document"]


async def test_a_rejected_document_is_retried_by_id_and_its_quarantined_copy_stays(ops, docs) -> None:
    elf = base64.b64encode(b"\x7fELF\x02\x01\x01" + bytes(100)).decode()
    rejected = await docs.upload(content_base64=elf, content_type="application/pdf", file_name="cv.pdf")
    await docs.settle()
    quarantined = docs.row(rejected)["blob_path"]
    assert quarantined.startswith("quarantine/")
    run = await ops("documents", "retry", rejected["id"])
    assert run.status == 0, run.err
    await outbox.flush(docs.runtime.db, docs.runtime.sender)
    assert await docs.transfer() == [Processed()]
    await docs.settle()
    row = docs.row(rejected)
    assert row["status"] == "rejected"  # the same bytes are refused again
    assert sorted(await docs.blobs()) == [quarantined]


async def test_a_document_that_is_not_failed_or_unknown_is_not_retried(ops, docs) -> None:
    _, _, fine = await failed_and_verified(docs)
    verified = await ops("documents", "retry", fine["id"])
    assert verified.status == 1
    assert verified.lines == [
        f"document {fine['id']} ({docs.row(fine)['uuid']}) is verified: "
        "only a failed or rejected document is retried"
    ]
    unknown = await ops("documents", "retry", "doc_nothing", "--json")
    assert unknown.status == 1
    assert unknown.data == {"dry_run": False, "retried": []}
    assert docs.row(fine)["status"] == "verified"


@pytest.mark.parametrize(
    "argv",
    [
        ("documents", "retry"),
        ("documents", "retry", "not-an-id"),
        ("documents", "retry", "doc_1", "--all-failed"),
        ("documents", "list", "--status", "lost"),
    ],
)
async def test_usage_errors_exit_2(ops, argv) -> None:
    run = await ops(*argv)
    assert run.status == 2
    assert "usage: python -m ops documents" in run.err
