"""Names and headers of a document's blob: never derived from what a candidate typed, except the
``Content-Disposition`` file name, which is sanitised.

The blob is ``{ATS candidate id}/{document id}/{sha256}`` (DESIGN.md): two UUIDs and a hex
digest, so a name is safe in a URL and a new version of a document never overwrites the old
bytes. A rejected document moves under :data:`QUARANTINE_PREFIX`.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

QUARANTINE_PREFIX = "quarantine/"

_FALLBACK_NAME = "document"
_MAX_NAME_CHARS = 150
# Kept in the ASCII ``filename=``: letters, digits and a few punctuation marks that no browser or
# shell reads specially; anything else becomes "_".
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ()+]")
# Removed from the UTF-8 ``filename*=`` too: separators, quotes and control characters.
_NEVER = re.compile(r"[\x00-\x1f\x7f-\x9f/\\\"';:*?<>|]")


def blob_name(candidate_id: str, document_id: str, sha256: str) -> str:
    return f"{candidate_id}/{document_id}/{sha256}"


def quarantine_name(name: str) -> str:
    return name if name.startswith(QUARANTINE_PREFIX) else QUARANTINE_PREFIX + name


def _clean(name: str) -> str:
    cleaned = _NEVER.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    return cleaned[:_MAX_NAME_CHARS] or _FALLBACK_NAME


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the UTF-8 original as ``filename*`` (RFC 6266).

    A browser that downloads the blob gets a plain file name: no path, no quotes, no control
    characters, no leading dot; the header itself stays ASCII whatever the name.
    """
    unicode_name = _clean(file_name)
    ascii_name = unicodedata.normalize("NFKD", unicode_name).encode("ascii", "ignore").decode()
    ascii_name = _ASCII_UNSAFE.sub("_", ascii_name).strip(" ").rstrip(".")
    if not ascii_name or ascii_name.startswith("."):  # nothing ASCII before the extension
        ascii_name = _FALLBACK_NAME + ascii_name
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(unicode_name, safe='')}"


def blob_metadata(
    *, document_id: str, portal_document_id: str, portal_candidate_id: str, sha256: str, kind: str
) -> dict[str, str]:
    """Metadata on the blob, so a blob explains itself without the database (ids, never names)."""
    return {
        "document_id": document_id,
        "portal_document_id": portal_document_id,
        "portal_candidate_id": portal_candidate_id,
        "sha256": sha256,
        "kind": kind,
    }
