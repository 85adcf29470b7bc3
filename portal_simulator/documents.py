"""Real bytes for the documents candidates upload: small but well-formed PDF, PNG, DOCX and
text files of several sizes, so a receiver's download, size and sha256 checks see real content.

Sizes vary by kind (a scanned ID is large, a cover letter small); random filler keeps the
files incompressible so ``size_bytes`` means what it says on the wire.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass

KINDS = ("resume", "cover_letter", "id_document", "certificate", "other")

PDF = "application/pdf"
PNG = "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
CSV = "text/csv"

# kind -> (formats to choose from, smallest and largest size in bytes)
_KIND_FORMATS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "resume": ((PDF, PDF, DOCX), 20_000, 400_000),
    "cover_letter": ((PDF, DOCX, TEXT), 2_000, 60_000),
    "id_document": ((PNG, PDF), 80_000, 700_000),
    "certificate": ((PDF, PNG), 15_000, 250_000),
    "other": ((TEXT, CSV, PDF), 500, 40_000),
}
_EXTENSIONS = {PDF: "pdf", PNG: "png", DOCX: "docx", TEXT: "txt", CSV: "csv"}
_STEMS = {
    "resume": ("cv", "resume", "CV_2026"),
    "cover_letter": ("cover-letter", "motivation"),
    "id_document": ("passport", "id-card", "driving-licence"),
    "certificate": ("certificate", "degree-certificate", "aws-certification"),
    "other": ("portfolio-links", "references", "notes"),
}


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    file_name: str
    content_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def make_document(kind: str, owner: str, rng: random.Random) -> GeneratedFile:
    """A file of ``kind`` for a candidate whose name slug is ``owner``."""
    formats, smallest, largest = _KIND_FORMATS[kind]
    content_type = rng.choice(formats)
    size = rng.randint(smallest, largest)
    builder = {PDF: _pdf, PNG: _png, DOCX: _docx, TEXT: _text, CSV: _csv}[content_type]
    title = f"{kind.replace('_', ' ').title()} of {owner}"
    file_name = f"{rng.choice(_STEMS[kind])}_{owner}.{_EXTENSIONS[content_type]}"
    return GeneratedFile(file_name, content_type, builder(title, size, rng))


def _pdf(title: str, size: int, rng: random.Random) -> bytes:
    text = title.encode("latin-1", "replace").replace(b"(", b"[").replace(b")", b"]")
    page_stream = b"BT /F1 18 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(page_stream), page_stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    filler = rng.randbytes(max(0, size - 900))
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(filler), filler))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _png(title: str, size: int, rng: random.Random) -> bytes:
    height = 64
    width = max(8, size // (3 * height))
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    text = b"Title\x00" + title.encode("latin-1", "replace")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def _docx(title: str, size: int, rng: random.Random) -> bytes:
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="bin" ContentType="application/octet-stream"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="word/document.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
        "</Relationships>"
    )
    escaped = title.replace("&", "&amp;").replace("<", "&lt;")
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{escaped}</w:t></w:r></w:p></w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
        archive.writestr("word/media/scan.bin", rng.randbytes(max(0, size - 1500)), zipfile.ZIP_STORED)
    return out.getvalue()


def _text(title: str, size: int, rng: random.Random) -> bytes:
    words = (
        "experience",
        "team",
        "delivered",
        "customers",
        "data",
        "improved",
        "role",
        "motivated",
        "learned",
        "projects",
        "résumé",
        "collaboration",
        "café",
        "growth",
    )
    lines = [title, ""]
    total = len(title)
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(12)).capitalize() + "."
        lines.append(line)
        total += len(line.encode()) + 1
    return "\n".join(lines).encode()[:size].decode("utf-8", "ignore").encode()


def _csv(title: str, size: int, rng: random.Random) -> bytes:
    rows = ["reference,relationship,email"]
    total = len(rows[0])
    while total < size:
        row = f"ref{rng.randrange(10_000)},{rng.choice(('manager', 'peer', 'client'))},ref@example.com"
        rows.append(row)
        total += len(row) + 1
    return "\n".join(rows).encode()
