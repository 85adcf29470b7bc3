"""A document's blob name and headers: ids only in the name, a file name that cannot hurt in the
Content-Disposition, and the two queues' bodies read strictly."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.documents.messages import MalformedMessage, TransferRequest, VerificationRequest
from shared.documents.naming import blob_name, content_disposition, quarantine_name


def test_the_blob_is_named_by_ids_and_hash_and_quarantine_is_a_prefix():
    name = blob_name("c-uuid", "d-uuid", "a" * 64)
    assert name == f"c-uuid/d-uuid/{'a' * 64}"
    assert quarantine_name(name) == f"quarantine/{name}"
    assert quarantine_name(quarantine_name(name)) == f"quarantine/{name}"


@pytest.mark.parametrize(
    ("file_name", "header"),
    [
        ("cv.pdf", "attachment; filename=\"cv.pdf\"; filename*=UTF-8''cv.pdf"),
        (
            "Zoë Ångström CV.pdf",
            'attachment; filename="Zoe Angstrom CV.pdf"; '
            "filename*=UTF-8''Zo%C3%AB%20%C3%85ngstr%C3%B6m%20CV.pdf",
        ),
        (
            'a"; filename="evil.exe',
            "attachment; filename=\"a__ filename__evil.exe\"; filename*=UTF-8''a__%20filename%3D_evil.exe",
        ),
        ("..\\..\\etc/passwd", "attachment; filename=\"_.._etc_passwd\"; filename*=UTF-8''_.._etc_passwd"),
        (
            "line\r\nX-Injected: 1.txt",
            "attachment; filename=\"line__X-Injected_ 1.txt\"; filename*=UTF-8''line__X-Injected_%201.txt",
        ),
        (".hidden", "attachment; filename=\"hidden\"; filename*=UTF-8''hidden"),
        (
            "履歴書.pdf",
            "attachment; filename=\"document.pdf\"; filename*=UTF-8''%E5%B1%A5%E6%AD%B4%E6%9B%B8.pdf",
        ),
        ("...", "attachment; filename=\"document\"; filename*=UTF-8''document"),
    ],
)
def test_content_disposition_is_ascii_and_carries_a_plain_name(file_name, header):
    value = content_disposition(file_name)
    assert value == header
    assert value.isascii()
    assert "\r" not in value
    assert "\n" not in value


def test_a_long_name_is_shortened():
    assert len(content_disposition("x" * 400 + ".pdf")) < 400


DOC = str(uuid.uuid4())


def test_a_transfer_message_is_read_from_its_body_whatever_its_id():
    body = json.dumps(
        {"document_id": DOC, "portal_document_id": "doc_1", "sha256": "b" * 64, "source_event_id": "evt_1"}
    ).encode()
    request = TransferRequest.parse(body)
    assert (request.document_id, request.sha256, request.portal_document_id) == (DOC, "b" * 64, "doc_1")
    assert VerificationRequest.parse(body).document_id == DOC


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"document_id": "doc_1", "sha256": "b" * 64}).encode(),
        json.dumps({"document_id": DOC, "sha256": "B" * 64}).encode(),
        json.dumps({"document_id": DOC}).encode(),
    ],
)
def test_a_body_no_handler_can_act_on_is_malformed(body):
    with pytest.raises(MalformedMessage):
        TransferRequest.parse(body)
