"""Real bytes for the documents candidates upload: small but well-formed PDF, PNG, DOCX, JPEG and
text files of several sizes, so a receiver's download, size and sha256 checks see real content.

Sizes vary by kind (a scanned ID is large, a cover letter small); random filler keeps the
files incompressible so ``size_bytes`` means what it says on the wire.

Large files (above :data:`IN_MEMORY_LIMIT`, up to :data:`MAX_SIZE`) are never held whole: a
:class:`StreamedFile` is a header, a deterministic filler and a trailer, produced chunk by chunk
each time it is served (its sha256 is computed once, by one pass, when it is made). PDF, text,
CSV and JPEG can be that large; PNG and DOCX are built in memory, up to :data:`BUILT_LIMIT`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

KINDS = ("resume", "cover_letter", "id_document", "certificate", "other")

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
CSV = "text/csv"
FORMATS = (PDF, PNG, JPEG, DOCX, TEXT, CSV)

#: Files up to this size are built in memory; larger ones are streamed.
IN_MEMORY_LIMIT = 2 * 1024 * 1024
#: Largest PNG or DOCX the simulator builds (they are not streamed).
BUILT_LIMIT = 16 * 1024 * 1024
#: Largest file the simulator makes.
MAX_SIZE = 1024 * 1024 * 1024
#: Chunk size of served bodies.
CHUNK = 1024 * 1024

# kind -> (formats to choose from, smallest and largest size in bytes)
_KIND_FORMATS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "resume": ((PDF, PDF, DOCX), 20_000, 400_000),
    "cover_letter": ((PDF, DOCX, TEXT), 2_000, 60_000),
    "id_document": ((PNG, PDF), 80_000, 700_000),
    "certificate": ((PDF, PNG), 15_000, 250_000),
    "other": ((TEXT, CSV, PDF), 500, 40_000),
}
_EXTENSIONS = {PDF: "pdf", PNG: "png", JPEG: "jpg", DOCX: "docx", TEXT: "txt", CSV: "csv"}
_STEMS = {
    "resume": ("cv", "resume", "CV_2026"),
    "cover_letter": ("cover-letter", "motivation"),
    "id_document": ("passport", "id-card", "driving-licence"),
    "certificate": ("certificate", "degree-certificate", "aws-certification"),
    "other": ("portfolio-links", "references", "notes"),
}


class DocumentFile(Protocol):
    """What the portal serves for one document."""

    @property
    def file_name(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def sha256(self) -> str: ...

    def chunks(self) -> Iterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    file_name: str
    content_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, len(self.content), CHUNK):
            yield self.content[start : start + CHUNK]


@dataclass(frozen=True, slots=True)
class StreamedFile:
    """``prefix + filler + suffix`` of exactly ``size`` bytes; the filler is made from ``seed``
    in :data:`CHUNK` pieces (one random block per file, each piece stamped with its number so no
    two are equal) and never kept."""

    file_name: str
    content_type: str
    size: int
    prefix: bytes
    suffix: bytes
    seed: int
    text: bool = False
    avoid: bytes = b""
    sha256: str = field(default="", compare=False)

    @classmethod
    def make(cls, **values: object) -> StreamedFile:
        unhashed = cls(**values)  # type: ignore[arg-type]
        digest = hashlib.sha256()
        for chunk in unhashed.chunks():
            digest.update(chunk)
        return cls(**{**values, "sha256": digest.hexdigest()})  # type: ignore[arg-type]

    def _block(self) -> bytes:
        rng = random.Random(self.seed)
        if self.text:
            words = _WORDS
            parts: list[str] = []
            total = 0
            while total < CHUNK:
                line = " ".join(rng.choice(words) for _ in range(12)) + ".\n"
                parts.append(line)
                total += len(line)
            return "".join(parts).encode("ascii")[:CHUNK]
        block = rng.randbytes(CHUNK)
        for byte in self.avoid:
            block = block.replace(bytes([byte]), b"\x00")
        return block

    def chunks(self) -> Iterator[bytes]:
        filler = self.size - len(self.prefix) - len(self.suffix)
        block = self._block()
        yield self.prefix
        for number, start in enumerate(range(0, filler, CHUNK)):
            stamp = (b"%08d" % number) if self.text else number.to_bytes(8, "big")
            piece = stamp + block[len(stamp) :]
            yield piece[: min(CHUNK, filler - start)]
        yield self.suffix


_WORDS = ("experience", "team", "delivered", "customers", "data", "improved", "role", "projects")


def make_document(
    kind: str,
    owner: str,
    rng: random.Random,
    *,
    content_type: str | None = None,
    size: int | None = None,
) -> DocumentFile:
    """A file of ``kind`` for a candidate whose name slug is ``owner``; ``content_type`` and
    ``size`` are drawn for the kind unless given (a large size streams, see the docstring)."""
    formats, smallest, largest = _KIND_FORMATS[kind]
    content_type = content_type or rng.choice(formats)
    size = rng.randint(smallest, largest) if size is None else size
    title = f"{kind.replace('_', ' ').title()} of {owner}"
    file_name = f"{rng.choice(_STEMS[kind])}_{owner}.{_EXTENSIONS[content_type]}"
    if size > IN_MEMORY_LIMIT and content_type in _STREAMED:
        return _STREAMED[content_type](file_name, title, size, rng.randrange(2**32))
    if size > BUILT_LIMIT:
        raise ValueError(f"{content_type} documents are built in memory: at most {BUILT_LIMIT} bytes")
    builder = {PDF: _pdf, PNG: _png, JPEG: _jpeg, DOCX: _docx, TEXT: _text, CSV: _csv}[content_type]
    return GeneratedFile(file_name, content_type, builder(title, size, rng))


def _streamed_pdf(file_name: str, title: str, size: int, seed: int) -> StreamedFile:
    text = title.encode("latin-1", "replace").replace(b"(", b"[").replace(b")", b"]")
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n% " + text + b"\n1 0 obj\n<< /Length "
    stream = b" >>\nstream\n"
    suffix = b"\nendstream\nendobj\ntrailer\n<< /Size 2 >>\n%%EOF\n"
    length = size - len(head) - 12 - len(stream) - len(suffix)
    prefix = head + b"%012d" % length + stream
    return StreamedFile.make(
        file_name=file_name, content_type=PDF, size=size, prefix=prefix, suffix=suffix, seed=seed
    )


def _streamed_text(file_name: str, title: str, size: int, seed: int) -> StreamedFile:
    return StreamedFile.make(
        file_name=file_name,
        content_type=TEXT,
        size=size,
        prefix=title.encode() + b"\n\n",
        suffix=b"\n",
        seed=seed,
        text=True,
    )


def _streamed_csv(file_name: str, title: str, size: int, seed: int) -> StreamedFile:
    return StreamedFile.make(
        file_name=file_name,
        content_type=CSV,
        size=size,
        prefix=b"reference notes\n",
        suffix=b"\n",
        seed=seed,
        text=True,
    )


def _streamed_jpeg(file_name: str, title: str, size: int, seed: int) -> StreamedFile:
    # SOI, a JFIF APP0, then scan data (no 0xFF byte, so no marker appears in it), then EOI.
    prefix = (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    )
    return StreamedFile.make(
        file_name=file_name,
        content_type=JPEG,
        size=size,
        prefix=prefix,
        suffix=b"\xff\xd9",
        seed=seed,
        avoid=b"\xff",
    )


_STREAMED = {PDF: _streamed_pdf, TEXT: _streamed_text, CSV: _streamed_csv, JPEG: _streamed_jpeg}


class DocumentSpec(BaseModel):
    """The ``document`` option of ``POST /admin/events`` for ``document.uploaded``: what to upload.

    ``content_base64`` gives the exact bytes (any ``content_type``, e.g. an executable announced
    as a PDF); otherwise a file of ``content_type`` (one of :data:`FORMATS`) and about
    ``size_bytes`` is generated (exactly, when it streams). ``file_name`` overrides the name.
    """

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    content_type: str | None = None
    size_bytes: int | None = Field(default=None, ge=0, le=MAX_SIZE)
    file_name: str | None = Field(default=None, min_length=1, max_length=255)
    content_base64: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DocumentSpec:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if self.content_base64 is not None:
            try:
                base64.b64decode(self.content_base64, validate=True)
            except ValueError:
                raise ValueError("content_base64 is not base64") from None
            if self.size_bytes is not None:
                raise ValueError("give content_base64 or size_bytes, not both")
            return self
        if self.content_type is not None and self.content_type not in FORMATS:
            raise ValueError(f"content_type must be one of {', '.join(FORMATS)} (or give content_base64)")
        limit = MAX_SIZE if self.content_type in _STREAMED else BUILT_LIMIT
        if self.size_bytes is not None and self.content_type is not None and self.size_bytes > limit:
            raise ValueError(f"{self.content_type} documents are at most {limit} bytes here")
        return self


def document_for(kind: str, owner: str, rng: random.Random, spec: DocumentSpec | None) -> DocumentFile:
    """The file a ``document.uploaded`` announces: drawn for ``kind``, shaped by ``spec``."""
    if spec is None:
        return make_document(kind, owner, rng)
    if spec.content_base64 is not None:
        content_type = spec.content_type or "application/octet-stream"
        name = spec.file_name or f"document_{owner}.{_EXTENSIONS.get(content_type, 'bin')}"
        return GeneratedFile(name, content_type, base64.b64decode(spec.content_base64))
    file = make_document(kind, owner, rng, content_type=spec.content_type, size=spec.size_bytes)
    if spec.file_name is None:
        return file
    if isinstance(file, GeneratedFile | StreamedFile):
        return dataclasses.replace(file, file_name=spec.file_name)
    return file


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


def _jpeg(title: str, size: int, rng: random.Random) -> bytes:
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = title.encode("latin-1", "replace")[:200]
    header += b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    header += b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    scan = rng.randbytes(max(0, size - len(header) - 2)).replace(b"\xff", b"\x00")
    return header + scan + b"\xff\xd9"
