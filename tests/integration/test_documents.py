"""Document transfer and verification against real services: PostgreSQL, the local queues, Redis
(the breaker), Azurite and the portal simulator. What a recruiter relies on: the bytes in Blob
Storage are the candidate's, named and described as promised; what is not what it claims, or
cannot be fetched safely, is refused, recorded and alerted, never stored as verified."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import shlex
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portal_simulator.documents import GeneratedFile
from portal_simulator.state import StoredDocument
from shared.documents.addresses import AddressClass, AddressPolicy
from shared.outcomes import Failed, Ignored, Processed, RetryLater
from shared.redelivery import ATTEMPT, FIRST_ATTEMPT_AT
from shared.runtime import Runtime
from tests.support.documents import Documents, RecordingAlerts, md5_b64, recording_alerts
from tests.support.eicar import EICAR
from tests.support.pipeline import Pipeline
from tests.support.tcp_proxy import TcpProxy

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SCANNER = Path(__file__).resolve().parents[1] / "support" / "eicar_scanner.py"


@pytest.fixture
async def docs(pipeline, portal) -> Documents:
    documents = Documents(pipeline, portal)
    documents.alerts = recording_alerts(pipeline.runtime)  # type: ignore[attr-defined]
    return documents


@pytest.fixture
async def start_pipeline(portal_environ, webhook_secret, database_url):
    """Another runtime on the same database and queues, with these setting overrides."""
    opened: list[Pipeline] = []

    async def start(**overrides: str) -> tuple[Pipeline, RecordingAlerts]:
        runtime = await Runtime.from_environ({**portal_environ, **overrides})
        alerts = recording_alerts(runtime)
        pipe = Pipeline(runtime, webhook_secret, database_url)
        opened.append(pipe)
        return pipe, alerts

    yield start
    for pipe in opened:
        await pipe.close()


@pytest.fixture
async def big_docs(start_pipeline, portal) -> Documents:
    pipe, alerts = await start_pipeline(DOCUMENT_MAX_BYTES=str(250 * 1024 * 1024))
    documents = Documents(pipe, portal)
    documents.alerts = alerts  # type: ignore[attr-defined]
    return documents


@pytest.mark.parametrize(
    ("kind", "content_type", "size"),
    [
        ("resume", "application/pdf", 183_204),
        ("cover_letter", DOCX, 20_000),
        ("id_document", "image/png", 90_000),
        ("id_document", "image/jpeg", 5_000_000),
        ("certificate", "application/pdf", 1024),
        ("other", "text/plain", 3_000_000),
        ("other", "text/csv", 40_000),
    ],
)
async def test_each_kind_and_type_reaches_blob_storage_verified_and_described(docs, kind, content_type, size):
    document = await docs.upload(kind=kind, content_type=content_type, size_bytes=size)
    assert docs.row(document)["status"] == "pending"
    assert await docs.transfer() == [Processed()]
    row = docs.row(document)
    name = f"{row['candidate']}/{row['uuid']}/{document['sha256']}"
    assert (row["status"], row["blob_path"]) == ("transferred", name)
    assert await docs.verify() == [Processed()]
    row = docs.row(document)
    assert row["status"] == "verified"
    assert row["verified_at"] is not None
    assert row["detected_type"] == {"text/csv": "text", "text/plain": "text", DOCX: "docx"}.get(
        content_type, content_type.split("/")[1]
    )
    content = docs.content(document)
    assert await docs.blob_bytes(name) == content
    properties = await docs.blob_properties(name)
    assert properties.content_settings.content_type == content_type
    assert base64.b64encode(properties.content_settings.content_md5).decode() == md5_b64(content)
    assert row["content_md5"] == md5_b64(content)
    assert properties.content_settings.content_disposition.startswith(
        f'attachment; filename="{document["file_name"]}"'
    )
    assert properties.metadata == {
        "document_id": row["uuid"],
        "portal_document_id": document["id"],
        "portal_candidate_id": document["candidate_id"],
        "sha256": document["sha256"],
        "kind": kind,
    }
    assert list(await docs.blobs()) == [name]
    [call] = docs.pipeline.rows(  # the download (the candidate's profile fetch has its own row)
        "SELECT operation, entity_id, outcome, http_status FROM portal_activity_log "
        "WHERE direction = 'outbound' AND operation LIKE 'GET /v1/documents/%%'"
    )
    assert call == {
        "operation": "GET /v1/documents/{doc_id}/content",
        "entity_id": document["id"],
        "outcome": "succeeded",
        "http_status": 200,
    }
    assert docs.alerts.raised == []


async def test_a_zero_byte_document_is_transferred_then_rejected_into_quarantine(docs):
    document = await docs.upload(content_base64="", content_type="application/pdf", file_name="cv.pdf")
    await docs.settle()
    row = docs.row(document)
    assert (row["status"], row["rejection_reason"]) == ("rejected", "empty document (0 bytes)")
    name = f"{row['candidate']}/{row['uuid']}/{document['sha256']}"
    assert row["blob_path"] == f"quarantine/{name}"
    assert list(await docs.blobs()) == [f"quarantine/{name}"]
    assert await docs.blob_bytes(f"quarantine/{name}") == b""
    assert docs.alerts.raised == [
        (
            "document_rejected",
            row["uuid"],
            f"document {row['uuid']} ({document['id']}) rejected: empty document (0 bytes); "
            "its blob moves under quarantine/",
        )
    ]


PE = b"MZ\x90\x00" + bytes(56) + (64).to_bytes(4, "little") + b"PE\x00\x00" + bytes(4000)


@pytest.mark.parametrize(
    ("content", "content_type", "file_name", "reason"),
    [
        (
            PE,
            "application/pdf",
            "cv.pdf",
            "content is a Windows (PE/DOS) executable, declared application/pdf",
        ),
        (b"PK\x03\x04" + bytes(100), "application/zip", "cv.zip", "unsupported content type application/zip"),
        (b"GIF89a" + bytes(100), "image/png", "photo.png", "declared png but the content does not start"),
        (b"%PDF-1.4\n%%EOF\n", "application/pdf", "cv.pdf.exe", "file name carries the extension .exe"),
    ],
)
async def test_bytes_that_are_not_what_the_event_claims_are_rejected(
    docs, content, content_type, file_name, reason
):
    document = await docs.upload(
        content_base64=base64.b64encode(content).decode(), content_type=content_type, file_name=file_name
    )
    await docs.settle()
    row = docs.row(document)
    assert row["status"] == "rejected"
    assert row["rejection_reason"].startswith(reason)
    assert row["blob_path"].startswith("quarantine/")
    assert all(name.startswith("quarantine/") for name in await docs.blobs())
    assert docs.alerts.kinds() == ["document_rejected"]


async def test_a_declared_size_over_the_limit_is_refused_before_any_download(start_pipeline, portal):
    pipe, alerts = await start_pipeline(DOCUMENT_MAX_BYTES=str(50 * 1024 * 1024))
    docs = Documents(pipe, portal)
    document = await docs.upload(content_type="application/pdf", size_bytes=60 * 1000 * 1000)
    assert await docs.transfer() == [
        Failed(f"declared size 60000000 bytes is above DOCUMENT_MAX_BYTES ({50 * 1024 * 1024})")
    ]
    row = docs.row(document)
    assert row["status"] == "failed"
    assert "DOCUMENT_MAX_BYTES" in row["last_error"]
    assert docs.downloads() == {}
    assert await docs.blobs() == {}
    assert alerts.kinds() == ["document_failed"]
    assert await docs.queued("document-transfers") == []


async def test_a_portal_sending_more_than_it_declared_is_cut_off_and_nothing_is_stored(docs):
    document = await docs.upload(content_type="text/plain", size_bytes=1024)
    await docs.portal.admin.add_fault("oversize_document", count=1, extra_bytes=60 * 1000 * 1000)
    [outcome] = await docs.transfer()
    assert outcome == Failed(
        f"the portal sent more bytes than the event declared ({document['size_bytes']}); stopped reading"
    )
    assert docs.row(document)["status"] == "failed"
    assert await docs.blobs() == {}
    assert docs.alerts.kinds() == ["document_failed"]


async def test_a_content_length_that_disagrees_with_the_event_is_refused_before_reading(docs):
    (item,) = await docs.portal.admin.generate_events(
        "document.uploaded", deliver=False, overrides={"size_bytes": 10}
    )
    assert (await docs.pipeline.post(item["event"])).status == 202
    await docs.pipeline.drain()
    [outcome] = await docs.transfer()
    assert isinstance(outcome, Failed)
    assert outcome.reason.endswith("bytes, the event 10")
    assert await docs.blobs() == {}


async def test_a_sha256_mismatch_fails_and_leaves_no_committed_blob(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=6_000_000)
    await docs.portal.admin.add_fault("corrupt_document", count=1)
    assert await docs.transfer() == [
        Failed("the sha256 of the bytes the portal sent differs from the event's")
    ]
    row = docs.row(document)
    assert (row["status"], row["blob_path"]) == ("failed", None)
    assert await docs.blobs() == {}  # staged blocks are never committed: no blob is visible
    assert docs.alerts.kinds() == ["document_failed"]
    assert await docs.queued("document-verification") == []


async def test_a_redirect_is_not_followed(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    await docs.portal.admin.add_fault("redirect", count=1)
    [outcome] = await docs.transfer()
    assert outcome == Failed(
        "portal answered 302 (a redirect) to the document download; redirects are not followed"
    )
    assert docs.downloads() == {"302": 1}
    assert docs.row(document)["status"] == "failed"


async def test_a_document_the_portal_does_not_have_fails(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    del docs.portal.state.documents[document["id"]]
    assert await docs.transfer() == [Failed("the portal has no such document (404)")]
    assert docs.row(document)["last_error"] == "the portal has no such document (404)"


async def test_the_portal_failing_mid_stream_then_succeeding(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=8_000_000)
    await docs.portal.admin.add_fault("cut_document", count=1, cut_after_bytes=3_000_000)
    [first] = await docs.transfer()
    assert isinstance(first, RetryLater)
    assert "cut after" in first.reason
    row = docs.row(document)
    assert row["status"] == "pending"
    assert "cut after" in row["last_error"]
    [resent] = await docs.queued("document-transfers")
    assert resent["message_id"].endswith(":r1")
    assert resent["application_properties"][ATTEMPT] == 2
    assert await docs.blobs() == {}
    assert await docs.transfer() == [Processed()]
    assert docs.downloads() == {"cut": 1, "200": 1}
    name = docs.blob_name(document)
    assert await docs.blob_bytes(name) == docs.content(document)
    assert list(await docs.blobs()) == [name]


async def test_a_busy_portal_is_retried_no_sooner_than_it_asks(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    await docs.portal.admin.add_fault("error_503", count=1, retry_after_seconds=40)
    [first] = await docs.transfer()
    assert isinstance(first, RetryLater)
    assert first.not_before == 40
    [resent] = await docs.queued("document-transfers")
    delay = resent["visible_at"] - resent["enqueued_at"]
    assert 39 <= delay.total_seconds() <= 41
    await docs.settle()
    assert docs.row(document)["status"] == "verified"


async def test_a_duplicate_event_and_a_redelivered_message_store_one_blob(docs):
    (item,) = await docs.portal.admin.generate_events(
        "document.uploaded",
        deliver=False,
        document={"content_type": "application/pdf", "size_bytes": 5_000_000},
    )
    event = item["event"]
    document = event["data"]["document"]
    for _ in range(2):
        assert (await docs.pipeline.post(event)).status in (200, 202)
    await docs.pipeline.drain()
    messages = await docs.received("document-transfers")
    assert len(messages) == 1
    transfer = docs.runtime.document_transfer
    assert await transfer.handle(messages[0]) == Processed()
    # Redelivered after it was done: nothing to do.
    assert await transfer.handle(messages[0]) == Ignored("already transferred")
    # Redelivered after the blob was committed but the row was not marked (the database was lost
    # at that moment): the blob is found, only the bookkeeping is finished, no second download.
    docs.pipeline.rows(
        "UPDATE candidate_documents SET status = 'pending', blob_path = NULL WHERE portal_document_id = %s "
        "RETURNING id",
        document["id"],
    )
    assert await transfer.handle(messages[0]) == Processed()
    assert docs.downloads() == {"200": 1}
    name = docs.blob_name(document)
    assert list(await docs.blobs()) == [name]
    assert await docs.blob_bytes(name) == docs.content(document)
    await docs.settle()
    assert docs.row(document)["status"] == "verified"


async def test_a_newer_version_supersedes_the_message_about_the_older_one(docs):
    (item,) = await docs.portal.admin.generate_events(
        "document.uploaded", deliver=False, document={"content_type": "application/pdf", "size_bytes": 3000}
    )
    first = item["event"]
    document = first["data"]["document"]
    assert (await docs.pipeline.post(first)).status == 202
    await docs.pipeline.drain()
    [old] = await docs.received("document-transfers")
    # The candidate uploads a new file under the same document id before the transfer ran.
    newer_file = GeneratedFile("cv.pdf", "application/pdf", b"%PDF-1.7\nnewer version\n%%EOF\n")
    docs.portal.state.documents[document["id"]] = StoredDocument(
        document["id"], document["candidate_id"], newer_file
    )
    second = copy.deepcopy(first)
    second["id"] = first["id"] + "v2"
    second["data"]["document"].update(sha256=newer_file.sha256, size_bytes=newer_file.size)
    assert (await docs.pipeline.post(second)).status == 202
    await docs.pipeline.drain()
    assert await docs.runtime.document_transfer.handle(old) == Ignored(
        "superseded: the candidate uploaded a newer version of the document"
    )
    await docs.settle()
    row = docs.row(document)
    assert (row["status"], row["sha256"]) == ("verified", newer_file.sha256)
    assert await docs.blob_bytes(row["blob_path"]) == newer_file.content
    assert docs.downloads() == {"200": 1}


async def test_the_peak_memory_of_a_200_mb_transfer_stays_within_a_few_blocks(big_docs):
    import tracemalloc

    document = await big_docs.upload(content_type="application/pdf", size_bytes=200 * 1000 * 1000)
    [message] = await big_docs.received("document-transfers")
    tracemalloc.start()
    try:
        outcome = await big_docs.runtime.document_transfer.handle(message)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome == Processed()
    # 4 MiB blocks, 2 staging while the next fills: about 12 MiB; the simulator serving the file
    # in this same process adds its 1 MiB chunks. Holding the file would take 200 MB.
    assert peak < 32 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    name = big_docs.blob_name(document)
    properties = await big_docs.blob_properties(name)
    assert properties.size == 200 * 1000 * 1000
    digest = hashlib.sha256()
    client = big_docs.runtime.blobs.get_blob_client(big_docs.runtime.settings.documents_container, name)
    async for chunk in (await client.download_blob()).chunks():
        digest.update(chunk)
    assert digest.hexdigest() == document["sha256"]


async def test_the_eicar_test_file_is_flagged_by_the_scan_hook_and_quarantined(start_pipeline, portal):
    pipe, alerts = await start_pipeline(DOCUMENT_SCAN_COMMAND=shlex.join([sys.executable, str(SCANNER)]))
    docs = Documents(pipe, portal)
    infected = await docs.upload(
        content_base64=base64.b64encode(EICAR + b"\n").decode(),
        content_type="text/plain",
        file_name="notes.txt",
    )
    clean = await docs.upload(content_type="text/plain", size_bytes=3_000_000)
    await docs.settle()
    row = docs.row(infected)
    assert row["status"] == "rejected"
    assert row["rejection_reason"] == "the malware scan flagged it (scan command exit code 1)"
    assert row["blob_path"].startswith("quarantine/")
    assert docs.row(clean)["status"] == "verified"
    assert alerts.kinds() == ["document_rejected"]


# --- the download's safety: URL, address, credentials, breaker --------------------------------


def resolver_answering(*answers: str, calls: list[str] | None = None):
    async def resolve(host: str, port: int):
        if calls is not None:
            calls.append(host)
        return list(answers)

    return resolve


async def test_a_stored_download_url_outside_a_changed_portal_base_url_is_refused(docs, start_pipeline):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    moved, alerts = await start_pipeline(PORTAL_BASE_URL="https://portal-next.example")
    assert await Documents(moved, docs.portal).transfer() == [
        Failed("download_url is not under PORTAL_BASE_URL (checked again before the fetch)")
    ]
    assert docs.row(document)["status"] == "failed"
    assert docs.downloads() == {}
    assert alerts.kinds() == ["document_failed"]


async def _on_portal_name(docs, start_pipeline, resolver, *, policy=None):
    """A runtime whose PORTAL_BASE_URL names the simulator as portal.test (a name no DNS knows),
    resolved by ``resolver``; the stored download_url names it the same way."""
    base = docs.portal.base_url.replace("127.0.0.1", "portal.test")
    pipe, alerts = await start_pipeline(PORTAL_BASE_URL=base)
    pipe.runtime.__dict__["address_policy"] = policy or AddressPolicy.for_portal(base, resolver=resolver)
    docs.pipeline.rows(
        "UPDATE candidate_documents SET download_url = replace(download_url, '127.0.0.1', 'portal.test') "
        "RETURNING id"
    )
    return Documents(pipe, docs.portal), alerts


async def test_a_portal_name_resolving_to_the_metadata_address_is_never_contacted(docs, start_pipeline):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    moved, alerts = await _on_portal_name(docs, start_pipeline, resolver_answering("169.254.169.254"))
    assert await moved.transfer() == [
        Failed(
            "the portal's host resolves to 169.254.169.254 (forbidden address): downloads never connect there"
        )
    ]
    assert docs.row(document)["status"] == "failed"
    assert docs.downloads() == {}
    assert alerts.kinds() == ["document_failed"]


async def test_a_portal_name_resolving_to_loopback_is_refused_when_the_portal_is_configured_by_name(
    docs, start_pipeline
):
    await docs.upload(content_type="application/pdf", size_bytes=2000)
    moved, _ = await _on_portal_name(docs, start_pipeline, resolver_answering("127.0.0.1"))
    [outcome] = await moved.transfer()
    assert outcome == Failed(
        "the portal's host resolves to 127.0.0.1 (loopback address): downloads never connect there"
    )
    assert docs.downloads() == {}


async def test_the_connection_goes_to_the_address_checked_by_the_one_resolution(docs, start_pipeline):
    """DNS rebinding: the name answers a good address first and the metadata address afterwards;
    the download resolves once and connects to what it checked (portal.test is in no DNS, so a
    second lookup by the HTTP client would fail)."""
    document = await docs.upload(content_type="application/pdf", size_bytes=3_000_000)
    calls: list[str] = []

    async def rebinding(host: str, port: int):
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["169.254.169.254"]

    policy = AddressPolicy(frozenset({AddressClass.GLOBAL, AddressClass.LOOPBACK}), rebinding)
    moved, _ = await _on_portal_name(docs, start_pipeline, rebinding, policy=policy)
    assert await moved.transfer() == [Processed()]
    assert calls == ["portal.test"]
    assert await moved.blob_bytes(docs.blob_name(document)) == docs.content(document)


async def test_a_refused_api_key_waits_and_alerts_instead_of_failing_the_document(docs, start_pipeline):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    wrong, alerts = await start_pipeline(PORTAL_API_KEY="not-the-portal-key")
    [outcome] = await Documents(wrong, docs.portal).transfer()
    assert outcome == RetryLater("the portal refuses our API key (401)")
    assert docs.row(document)["status"] == "pending"
    assert alerts.kinds() == ["portal_credentials_rejected"]
    assert len(await docs.queued("document-transfers")) == 1
    await docs.settle()  # the right key again
    assert docs.row(document)["status"] == "verified"


async def test_downloads_go_through_the_portal_breaker(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    await docs.portal.admin.add_fault("error_500", count=5, path_prefix="/v1/documents/")
    for _ in range(5):
        [outcome] = await docs.transfer()
        assert isinstance(outcome, RetryLater)
        assert outcome.reason == "portal answered 500 to the document download"
    [skipped] = await docs.transfer()
    assert isinstance(skipped, RetryLater)
    assert skipped.reason.startswith("portal circuit open")
    assert 25 <= (skipped.not_before or 0) <= 30
    assert docs.downloads() == {"500": 5}
    assert docs.row(document)["attempts"] == 6


async def test_blob_storage_cut_and_back(start_pipeline, portal, azurite_connection_string):
    from tests.services import AZURITE_BLOB_PORT

    proxy = await TcpProxy("127.0.0.1", AZURITE_BLOB_PORT).start()
    try:
        through_proxy = azurite_connection_string.replace(
            f"127.0.0.1:{AZURITE_BLOB_PORT}/", f"127.0.0.1:{proxy.port}/"
        )
        pipe, alerts = await start_pipeline(DocumentsStorage=through_proxy)
        docs = Documents(pipe, portal)
        document = await docs.upload(content_type="application/pdf", size_bytes=5_000_000)
        proxy.cut()
        [outcome] = await docs.transfer()
        assert isinstance(outcome, RetryLater)
        assert outcome.reason.startswith("Blob Storage")
        row = docs.row(document)
        assert row["status"] == "pending"
        assert row["last_error"].startswith("Blob Storage")
        proxy.restore()
        assert await docs.transfer() == [Processed()]
        proxy.cut()
        [waiting] = await docs.verify()
        assert isinstance(waiting, RetryLater)
        assert docs.row(document)["status"] == "transferred"
        proxy.restore()
        assert await docs.verify() == [Processed()]
        assert docs.row(document)["status"] == "verified"
        assert await docs.blob_bytes(docs.blob_name(document)) == docs.content(document)
        assert alerts.raised == []
        assert docs.pipeline.rows("SELECT * FROM parked_messages") == []
    finally:
        await proxy.close()


async def test_a_rejection_whose_quarantine_move_did_not_happen_is_moved_by_the_next_delivery(docs):
    document = await docs.upload(
        content_base64=base64.b64encode(PE).decode(), content_type="application/pdf", file_name="cv.pdf"
    )
    await docs.transfer()
    [message] = await docs.received("document-verification")
    name = docs.blob_name(document)
    # The verdict was written, then Blob Storage went away before the move (as a crash would leave it).
    docs.pipeline.rows(
        "UPDATE candidate_documents SET status = 'rejected', rejection_reason = 'executable' "
        "WHERE portal_document_id = %s RETURNING id",
        document["id"],
    )
    assert await docs.runtime.document_verification.handle(message) == Processed()
    assert docs.row(document)["blob_path"] == f"quarantine/{name}"
    assert list(await docs.blobs()) == [f"quarantine/{name}"]
    assert await docs.runtime.document_verification.handle(message) == Ignored("already rejected")


async def test_a_transfer_failing_transiently_for_24_hours_is_parked_with_an_alert(docs):
    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    [message] = await docs.received("document-transfers")
    await docs.portal.admin.add_fault("error_503", count=1)
    first_attempt = datetime.now(UTC) - timedelta(hours=25)
    old = dataclasses.replace(
        message,
        message_id=message.message_id + ":r40",
        application_properties={ATTEMPT: 41, FIRST_ATTEMPT_AT: first_attempt.isoformat()},
    )
    outcome = await docs.runtime.document_transfer.handle(old)
    assert isinstance(outcome, RetryLater)
    [parked] = docs.pipeline.rows("SELECT queue, message_id, reason, attempts FROM parked_messages")
    assert parked["queue"] == "document-transfers"
    assert parked["attempts"] == 41
    assert parked["reason"].startswith("transient failures for 24 hours; last: portal answered 503")
    assert await docs.queued("document-transfers") == []
    assert docs.alerts.kinds() == ["document_parked"]
    assert docs.row(document)["status"] == "pending"


async def test_a_parked_transfer_is_resubmitted_by_the_operator_and_then_succeeds(docs, capsys, database_url):
    from tests.support.ops import Ops

    document = await docs.upload(content_type="application/pdf", size_bytes=2000)
    [message] = await docs.received("document-transfers")
    await docs.portal.admin.add_fault("error_503", count=1)
    old = dataclasses.replace(
        message,
        application_properties={
            ATTEMPT: 41,
            FIRST_ATTEMPT_AT: (datetime.now(UTC) - timedelta(hours=25)).isoformat(),
        },
    )
    await docs.runtime.document_transfer.handle(old)
    ops = Ops(capsys, {"DATABASE_URL": database_url, "ServiceBusConnection": database_url})
    run = await ops("dead-letters", "resubmit", "document-transfers", "--all", "--source", "parked")
    assert run.status == 0, run.err
    assert docs.pipeline.rows("SELECT * FROM parked_messages") == []
    await docs.settle()
    assert docs.row(document)["status"] == "verified"
