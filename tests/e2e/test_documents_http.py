"""Documents end to end under devhost: a signed ``document.uploaded`` over HTTP, and the queue
triggers of the real function app take it to Blob Storage and verify it."""

from __future__ import annotations

import base64

from azure.storage.blob.aio import BlobServiceClient

from tests.support import events as ev


async def post(app, event):
    headers, body = ev.signed(app.secret, event)
    response = await app.http.post("/api/portal/webhooks", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return event["data"]["document"]


async def uploaded(app, **document):
    (item,) = await app.portal.admin.generate_events("document.uploaded", deliver=False, document=document)
    return await post(app, item["event"])


async def test_an_upload_over_http_ends_verified_in_blob_storage_and_a_bad_one_in_quarantine(
    running_app, app_environ
):
    app = running_app
    good = await uploaded(app, content_type="application/pdf", size_bytes=4_000_000)
    bad = await uploaded(
        app,
        content_base64=base64.b64encode(b"\x7fELF\x02\x01\x01" + bytes(500)).decode(),
        content_type="application/pdf",
        file_name="cv.pdf",
    )

    def statuses():
        rows = app.rows("SELECT portal_document_id, status, blob_path FROM candidate_documents")
        quarantined = {
            r["portal_document_id"] for r in rows if (r["blob_path"] or "").startswith("quarantine/")
        }
        done = {
            r["portal_document_id"]: r
            for r in rows
            if r["status"] == "verified"
            or (r["status"] == "rejected" and r["portal_document_id"] in quarantined)
        }
        return done if len(done) == 2 else None

    done = await app.eventually(statuses, timeout=60)
    assert done[good["id"]]["status"] == "verified"
    assert done[bad["id"]]["status"] == "rejected"
    assert done[bad["id"]]["blob_path"].startswith("quarantine/")
    service = BlobServiceClient.from_connection_string(app_environ["DocumentsStorage"])
    async with service:
        container = service.get_container_client(app_environ["DOCUMENTS_CONTAINER"])
        names = sorted([blob.name async for blob in container.list_blobs()])
        assert names == sorted([done[good["id"]]["blob_path"], done[bad["id"]]["blob_path"]])
        blob = container.get_blob_client(done[good["id"]]["blob_path"])
        content = await (await blob.download_blob()).readall()
    stored = app.portal.state.documents[good["id"]]
    assert content == b"".join(stored.file.chunks())
    assert app.rows("SELECT count(*) AS n FROM devhost.messages WHERE queue LIKE 'document-%%'") == [{"n": 0}]
