"""Is a document what its event claims? A pure-Python content sniffer, as tables.

No libmagic (Azure's remote build cannot install it) and no third-party sniffer: the formats the
portal takes are few, and a table that states what each must look like is easier to check than
a general-purpose guesser. The declared ``content_type`` picks one :class:`Format`; the bytes
must then show that format's signature, and nothing may look like an executable, whatever was
declared. A type outside the table is refused as unsupported, and so is an empty file.

What is looked at (a :class:`Sample`, filled while the bytes stream past, so memory stays flat):
the first :data:`HEAD_BYTES`, the last :data:`TAIL_BYTES`, the size, and for text whether every
byte is UTF-8 text.

* PDF (``application/pdf``): starts with ``%PDF-``, ends (last KiB) with ``%%EOF``;
* DOCX (``application/vnd.openxmlformats-officedocument.wordprocessingml.document``): a ZIP
  whose central directory (read from the tail) lists ``[Content_Types].xml`` and
  ``word/document.xml``;
* PNG (``image/png``): the PNG signature and ``IHDR`` first, ``IEND`` last;
* JPEG (``image/jpeg``, ``image/jpg``): ``FF D8 FF`` first, ``FF D9`` last;
* text (``text/plain``, ``text/csv``): UTF-8 throughout (a BOM allowed), without NUL or control
  characters other than tab, line and page breaks.

Executables (Windows PE, ELF, Mach-O, WebAssembly) are recognised first and refused by name, so
"a .pdf that is an executable" says so. A file name whose extension belongs to another format
or to an executable or script (``cv.pdf.exe``) is refused too; a name without a known
extension is fine.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

HEAD_BYTES = 8 * 1024
#: Enough for a DOCX's central directory (a few KiB in practice) and every trailer checked.
TAIL_BYTES = 1024 * 1024

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain"
CSV = "text/csv"


class Format(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    PNG = "png"
    JPEG = "jpeg"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    detected: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    size: int
    head: bytes
    tail: bytes
    is_text: bool
    text_problem: str | None = None


#: Declared media type (lower case, parameters dropped) → format.
DECLARED: dict[str, Format] = {
    PDF: Format.PDF,
    DOCX: Format.DOCX,
    PNG: Format.PNG,
    JPEG: Format.JPEG,
    "image/jpg": Format.JPEG,
    TEXT: Format.TEXT,
    CSV: Format.TEXT,
}

#: File name extensions of each format: a name carrying another format's extension is refused.
EXTENSIONS: dict[Format, frozenset[str]] = {
    Format.PDF: frozenset({"pdf"}),
    Format.DOCX: frozenset({"docx"}),
    Format.PNG: frozenset({"png"}),
    Format.JPEG: frozenset({"jpg", "jpeg", "jpe", "jfif"}),
    Format.TEXT: frozenset({"txt", "text", "csv", "md", "log"}),
}

#: Extensions a recruiter's computer might run or render as active content: never accepted.
DANGEROUS_EXTENSIONS = frozenset(
    {
        "exe", "dll", "com", "scr", "msi", "msp", "bat", "cmd", "pif", "cpl", "ps1", "psm1",
        "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "jar", "sh", "bash", "app", "dmg", "pkg",
        "deb", "rpm", "apk", "lnk", "reg", "html", "htm", "xhtml", "svg", "docm", "xlsm", "pptm",
        "dotm", "iso", "img",
    }
)  # fmt: skip

#: Executable signatures, checked before anything else (prefix → what it is).
EXECUTABLES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an ELF executable"),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary or Java class"),
    (b"\x00asm", "a WebAssembly module"),
)


def normalise_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _executable(head: bytes) -> str | None:
    for prefix, what in EXECUTABLES:
        if head.startswith(prefix):
            return what
    # "MZ" alone could start a text; a PE has its "PE\0\0" header where e_lfanew points, and a
    # DOS program has NUL bytes in its header.
    if head.startswith(b"MZ") and len(head) >= 64:
        (pe_offset,) = struct.unpack_from("<I", head, 0x3C)
        if head[pe_offset : pe_offset + 4] == b"PE\x00\x00" or b"\x00" in head[:64]:
            return "a Windows (PE/DOS) executable"
    return None


# --- one check per format -------------------------------------------------------------------


def _pdf(sample: Sample) -> str | None:
    if not sample.head.startswith(b"%PDF-"):
        return "does not start with %PDF-"
    if b"%%EOF" not in sample.tail[-1024:]:
        return "has no %%EOF trailer (truncated or not a PDF)"
    return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _png(sample: Sample) -> str | None:
    if not sample.head.startswith(_PNG_SIGNATURE) or sample.head[12:16] != b"IHDR":
        return "does not start with the PNG signature and IHDR"
    if not sample.tail.endswith(_PNG_END):
        return "does not end with IEND (truncated or not a PNG)"
    return None


def _jpeg(sample: Sample) -> str | None:
    if not sample.head.startswith(b"\xff\xd8\xff"):
        return "does not start with a JPEG start-of-image marker"
    if not sample.tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "does not end with a JPEG end-of-image marker (truncated or not a JPEG)"
    return None


def _text(sample: Sample) -> str | None:
    return None if sample.is_text else (sample.text_problem or "is not UTF-8 text")


_EOCD = b"PK\x05\x06"
_CENTRAL_ENTRY = b"PK\x01\x02"
_DOCX_PARTS = frozenset({"[Content_Types].xml", "word/document.xml"})


def zip_entry_names(sample: Sample) -> list[str] | str:
    """The names in a ZIP's central directory (read from the tail), or why they cannot be read."""
    if not sample.head.startswith(b"PK\x03\x04"):
        return "does not start with a ZIP local header"
    # The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
    eocd = sample.tail.rfind(_EOCD, max(0, len(sample.tail) - 22 - 65535))
    if eocd < 0 or len(sample.tail) - eocd < 22:
        return "has no ZIP end-of-central-directory record"
    entries, cd_size, cd_offset = struct.unpack_from("<HII", sample.tail, eocd + 10)
    if 0xFFFFFFFF in (cd_size, cd_offset) or entries == 0xFFFF:
        return "is a ZIP64 archive (not a DOCX the portal produces)"
    tail_start = sample.size - len(sample.tail)
    start = cd_offset - tail_start
    if start < 0:
        return "has a ZIP central directory too large to check"
    if start + cd_size > eocd:
        return "has a ZIP central directory that overlaps its end record"
    names: list[str] = []
    position = start
    for _ in range(entries):
        if sample.tail[position : position + 4] != _CENTRAL_ENTRY:
            return "has a damaged ZIP central directory"
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", sample.tail, position + 28)
        raw_name = sample.tail[position + 46 : position + 46 + name_length]
        names.append(raw_name.decode("utf-8", "replace"))
        position += 46 + name_length + extra_length + comment_length
        if position > eocd:
            return "has a damaged ZIP central directory"
    return names


def _docx(sample: Sample) -> str | None:
    names = zip_entry_names(sample)
    if isinstance(names, str):
        return names
    missing = sorted(_DOCX_PARTS - set(names))
    if missing:
        return f"is a ZIP without {', '.join(missing)} (not a Word document)"
    return None


CHECKS: dict[Format, Callable[[Sample], str | None]] = {
    Format.PDF: _pdf,
    Format.DOCX: _docx,
    Format.PNG: _png,
    Format.JPEG: _jpeg,
    Format.TEXT: _text,
}


def _extension(file_name: str) -> str | None:
    stem, dot, extension = file_name.rpartition(".")
    return extension.lower() if dot and stem and extension else None


def _name_problem(file_name: str, declared: Format) -> str | None:
    extensions = [part.lower() for part in file_name.split(".")[1:]]
    dangerous = sorted(set(extensions) & DANGEROUS_EXTENSIONS)
    if dangerous:
        return f"file name carries the extension .{dangerous[0]}"
    last = _extension(file_name)
    if last is None or last in EXTENSIONS[declared]:
        return None
    for other, known in EXTENSIONS.items():
        if other is not declared and last in known:
            return f"file name extension .{last} is not {declared.value}"
    return None


def judge(sample: Sample, *, declared_type: str, file_name: str) -> Verdict:
    """Accept or refuse the bytes against the declared type (see the module docstring)."""
    if sample.size == 0:
        return Verdict(False, "empty", "empty document (0 bytes)")
    executable = _executable(sample.head)
    if executable is not None:
        return Verdict(
            False, "executable", f"content is {executable}, declared {normalise_type(declared_type)}"
        )
    declared = DECLARED.get(normalise_type(declared_type))
    if declared is None:
        return Verdict(False, "unsupported", f"unsupported content type {normalise_type(declared_type)}")
    problem = _name_problem(file_name, declared)
    if problem is not None:
        return Verdict(False, declared.value, problem)
    problem = CHECKS[declared](sample)
    if problem is not None:
        return Verdict(False, "mismatch", f"declared {declared.value} but the content {problem}")
    return Verdict(True, declared.value)


# --- filling a sample while the bytes stream past ----------------------------------------------

_ALLOWED_CONTROLS = frozenset(b"\t\n\r\x0c\x0b")
_FORBIDDEN_TEXT_BYTES = bytes(b for b in range(32) if b not in _ALLOWED_CONTROLS) + b"\x7f"
_DELETE_TABLE = bytes.maketrans(b"", b"")


class SampleBuilder:
    """Collects a :class:`Sample` from chunks in order, holding at most head + 2 × tail bytes."""

    def __init__(self) -> None:
        self._size = 0
        self._head = bytearray()
        self._tail = bytearray()
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._text_problem: str | None = None

    def feed(self, chunk: bytes) -> None:
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._tail += chunk
        if len(self._tail) > 2 * TAIL_BYTES:
            del self._tail[: len(self._tail) - TAIL_BYTES]
        if self._text_problem is None:
            self._check_text(chunk)
        self._size += len(chunk)

    def _check_text(self, chunk: bytes) -> None:
        # translate(None, delete) drops the forbidden bytes: a shorter result means one was there.
        if len(chunk.translate(_DELETE_TABLE, _FORBIDDEN_TEXT_BYTES)) != len(chunk):
            self._text_problem = "contains NUL or control characters (binary, not text)"
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._text_problem = "is not valid UTF-8"

    def sample(self) -> Sample:
        if self._text_problem is None:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._text_problem = "ends inside a UTF-8 character (truncated)"
        return Sample(
            size=self._size,
            head=bytes(self._head),
            tail=bytes(self._tail[-TAIL_BYTES:]),
            is_text=self._text_problem is None,
            text_problem=self._text_problem,
        )
