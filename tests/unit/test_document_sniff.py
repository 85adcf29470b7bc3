"""The content sniffer: every supported type accepted when the bytes are that type (the
simulator's files, made independently), refused with a precise reason when they are not."""

from __future__ import annotations

import io
import random
import struct
import zipfile

import pytest

from portal_simulator.documents import CSV, DOCX, FORMATS, JPEG, PDF, PNG, TEXT, make_document
from shared.documents.sniff import HEAD_BYTES, TAIL_BYTES, Sample, SampleBuilder, judge


def sample_of(data: bytes, *, chunk: int = 7919) -> Sample:
    builder = SampleBuilder()
    for start in range(0, len(data), chunk):
        builder.feed(data[start : start + chunk])
    return builder.sample()


def verdict(data: bytes, content_type: str, file_name: str = "document"):
    return judge(sample_of(data), declared_type=content_type, file_name=file_name)


@pytest.mark.parametrize("content_type", FORMATS)
@pytest.mark.parametrize("size", [1024, 40_000, 3_000_000])
@pytest.mark.parametrize("kind", ["resume", "other"])
def test_each_type_the_portal_makes_is_accepted(content_type, size, kind):
    if size > 2_000_000 and content_type in (PNG, DOCX):
        size = 1_500_000  # built in memory by the simulator
    file = make_document(kind, "ada_lovelace", random.Random(size), content_type=content_type, size=size)
    data = b"".join(file.chunks())
    result = verdict(data, file.content_type, file.file_name)
    assert result.accepted, result.reason
    assert (
        result.detected
        == {PDF: "pdf", PNG: "png", JPEG: "jpeg", DOCX: "docx", TEXT: "text", CSV: "text"}[content_type]
    )


def test_parameters_and_case_of_the_declared_type_do_not_matter():
    assert verdict(b"hello, world\n", "Text/Plain; charset=UTF-8", "notes.txt").accepted


PE = b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\x00\x00" + bytes(200)


@pytest.mark.parametrize(
    ("data", "content_type", "file_name", "reason"),
    [
        (b"", PDF, "cv.pdf", "empty document (0 bytes)"),
        (PE, PDF, "cv.pdf", "content is a Windows (PE/DOS) executable, declared application/pdf"),
        (b"\x7fELF\x02\x01\x01" + bytes(100), PDF, "cv.pdf", "content is an ELF executable"),
        (b"\xcf\xfa\xed\xfe" + bytes(100), TEXT, "a.txt", "content is a Mach-O executable"),
        (b"PK\x03\x04 anything", "application/zip", "a.zip", "unsupported content type application/zip"),
        (b"%PDF-1.7\n...", "application/x-msdownload", "a.pdf", "unsupported content type"),
        (b"%PDF-1.4\n1 0 obj\n", PDF, "cv.pdf", "has no %%EOF trailer"),
        (b"\x89PNG\r\n\x1a\n" + bytes(30), PDF, "cv.pdf", "does not start with %PDF-"),
        (b"%PDF-1.4\n%%EOF\n", PDF, "cv.png", "file name extension .png is not pdf"),
        (b"%PDF-1.4\n%%EOF\n", PDF, "cv.pdf.exe", "file name carries the extension .exe"),
        (b"%PDF-1.4\n%%EOF\n", PDF, "invoice.html", "file name carries the extension .html"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), PNG, "a.png", "does not end with IEND"),
        (b"\xff\xd8\xff\xe0" + bytes(40), JPEG, "a.jpg", "does not end with a JPEG end-of-image marker"),
        (b"GIF89a", JPEG, "a.jpg", "does not start with a JPEG start-of-image marker"),
        (b"name,email\nada,\x00\n", CSV, "a.csv", "contains NUL or control characters"),
        (b"caf\xe9 au lait", TEXT, "a.txt", "is not valid UTF-8"),
        (b"caf\xc3", TEXT, "a.txt", "ends inside a UTF-8 character"),
        (b"\x1b[31mred", TEXT, "a.txt", "contains NUL or control characters"),
    ],
)
def test_what_is_not_the_declared_type_is_refused_with_the_reason(data, content_type, file_name, reason):
    result = verdict(data, content_type, file_name)
    assert not result.accepted
    assert reason in (result.reason or "")


def _zip(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


def test_a_zip_that_is_not_a_word_document_is_refused():
    result = verdict(_zip(["[Content_Types].xml", "xl/workbook.xml"]), DOCX, "cv.docx")
    assert not result.accepted
    assert (
        result.reason
        == "declared docx but the content is a ZIP without word/document.xml (not a Word document)"
    )


def test_a_docx_cut_short_has_no_central_directory():
    data = _zip(["[Content_Types].xml", "word/document.xml"])
    result = verdict(data[: len(data) // 2], DOCX, "cv.docx")
    assert not result.accepted
    assert "end-of-central-directory" in (result.reason or "")


def test_text_with_a_bom_and_every_kind_of_line_break_is_text():
    assert verdict("\ufeffa\tb\r\nc\fd\ne".encode(), TEXT, "notes.txt").accepted


def test_mz_at_the_start_of_a_text_is_not_an_executable():
    assert verdict(b"MZ is how the notes begin, nothing more: " * 4, TEXT, "notes.txt").accepted


def test_a_multibyte_character_split_between_chunks_is_still_text():
    text = ("é" * 5000).encode()
    assert judge(sample_of(text, chunk=3), declared_type=TEXT, file_name="a.txt").accepted


def test_the_sample_keeps_the_head_and_the_tail_only():
    data = bytes(range(256)) * (4 * TAIL_BYTES // 256)
    sample = sample_of(data, chunk=65536)
    assert sample.size == len(data)
    assert sample.head == data[:HEAD_BYTES]
    assert sample.tail == data[-TAIL_BYTES:]
