"""What generated events announce is what the portal serves: candidates it refers to answer
``GET /v1/candidates/{id}``; documents download with the announced type, size and sha256."""

from __future__ import annotations

import base64
import hashlib

import pytest

from portal_simulator.admin_client import AdminError
from portal_simulator.testing import RunningSimulator
from tests.portal_simulator.conftest import SESSION_LOOP

pytestmark = [pytest.mark.unit, SESSION_LOOP]


async def test_events_about_a_candidate_refer_to_one_the_portal_serves(portal: RunningSimulator) -> None:
    async with portal.rest_client() as client:
        for event_type in (
            "screening.completed",
            "assessment.completed",
            "document.uploaded",
            "offer.accepted",
        ):
            (item,) = await portal.admin.generate_events(event_type, deliver=False)
            (inner,) = item["event"]["data"].values()
            response = await client.get(f"/v1/candidates/{inner['candidate_id']}")
            assert response.status_code == 200
            assert response.json()["candidate"]["id"] == inner["candidate_id"]


async def test_documents_of_several_kinds_and_sizes_are_served_as_announced(portal: RunningSimulator) -> None:
    items = await portal.admin.generate_events("document.uploaded", count=12, deliver=False)
    documents = [item["event"]["data"]["document"] for item in items]
    assert len({d["kind"] for d in documents}) >= 3
    assert len({d["content_type"] for d in documents}) >= 2
    assert max(d["size_bytes"] for d in documents) > 10 * min(d["size_bytes"] for d in documents)
    async with portal.rest_client() as client:
        for document in documents:
            assert document["download_url"].startswith(portal.base_url + "/v1/documents/")
            response = await client.get(document["download_url"])
            assert response.status_code == 200
            assert response.headers["content-type"] == document["content_type"]
            assert int(response.headers["content-length"]) == document["size_bytes"] == len(response.content)
            assert hashlib.sha256(response.content).hexdigest() == document["sha256"]


@pytest.mark.parametrize(
    ("content_type", "size", "head", "tail"),
    [
        ("application/pdf", 1024, b"%PDF-", b"%%EOF\n"),
        ("application/pdf", 3_000_000, b"%PDF-", b"%%EOF\n"),
        ("image/jpeg", 5_000, b"\xff\xd8\xff", b"\xff\xd9"),
        ("image/jpeg", 3_000_000, b"\xff\xd8\xff", b"\xff\xd9"),
        ("image/png", 2_000, b"\x89PNG", b"IEND\xaeB`\x82"),
        ("text/csv", 3_000_000, b"reference", b"\n"),
    ],
)
async def test_a_document_of_a_given_type_and_size_is_served_as_announced(
    portal: RunningSimulator, content_type: str, size: int, head: bytes, tail: bytes
) -> None:
    (item,) = await portal.admin.generate_events(
        "document.uploaded", deliver=False, document={"content_type": content_type, "size_bytes": size}
    )
    document = item["event"]["data"]["document"]
    assert document["content_type"] == content_type
    if size > 2 * 1024 * 1024:  # streamed files are exactly the size asked
        assert document["size_bytes"] == size
    async with portal.rest_client() as client:
        response = await client.get(document["download_url"])
    assert response.content.startswith(head)
    assert response.content.endswith(tail)
    assert len(response.content) == document["size_bytes"]
    assert hashlib.sha256(response.content).hexdigest() == document["sha256"]


async def test_a_document_with_given_bytes_announces_and_serves_exactly_them(
    portal: RunningSimulator,
) -> None:
    content = b"MZ\x90\x00" + bytes(200)
    (item,) = await portal.admin.generate_events(
        "document.uploaded",
        deliver=False,
        document={
            "content_base64": base64.b64encode(content).decode(),
            "content_type": "application/pdf",
            "file_name": "cv.pdf",
            "kind": "resume",
        },
    )
    document = item["event"]["data"]["document"]
    assert (document["file_name"], document["kind"], document["size_bytes"]) == ("cv.pdf", "resume", 204)
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    async with portal.rest_client() as client:
        assert (await client.get(document["download_url"])).content == content


async def test_a_document_the_simulator_cannot_make_is_refused(portal: RunningSimulator) -> None:
    with pytest.raises(AdminError) as refused:
        await portal.admin.generate_events(
            "document.uploaded", deliver=False, document={"content_type": "image/png", "size_bytes": 10**8}
        )
    assert refused.value.status == 422


async def test_candidate_updated_for_a_known_candidate_changes_the_served_profile(
    portal: RunningSimulator,
) -> None:
    candidate = await portal.admin.seed_candidate()
    (item,) = await portal.admin.generate_events(
        "candidate.updated", candidate=candidate["id"], deliver=False
    )
    updated = item["event"]["data"]["candidate"]
    assert updated["id"] == candidate["id"]
    assert updated != candidate
    async with portal.rest_client() as client:
        served = (await client.get(f"/v1/candidates/{candidate['id']}")).json()["candidate"]
    assert served == updated
