"""The bodies of ``document-transfers`` and ``document-verification`` messages.

Transfers are written by the event processor (and by ``ops documents retry``) through the
outbox: ``{"document_id": uuid, "portal_document_id": "doc_...", "sha256": hex,
"source_event_id": "evt_..." | null}``. Handlers read the body, never the message id (its form
belongs to the producer). Verifications are written by the transfer, in the transaction that
marks the row ``transferred``: ``{"document_id": uuid, "sha256": hex, "blob_path": name}``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

_SHA256 = re.compile(r"[0-9a-f]{64}")


class MalformedMessage(ValueError):
    """A body no handler can act on; the message is recorded as failed, never retried."""


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("body is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedMessage("body is not a JSON object")
    return value


def _document_id(value: dict[str, Any]) -> str:
    raw = value.get("document_id")
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise MalformedMessage("document_id is not a UUID") from None


def _sha256(value: dict[str, Any]) -> str:
    raw = value.get("sha256")
    if not isinstance(raw, str) or _SHA256.fullmatch(raw) is None:
        raise MalformedMessage("sha256 is not 64 lower-case hex digits")
    return raw


@dataclass(frozen=True, slots=True)
class TransferRequest:
    document_id: str
    sha256: str
    portal_document_id: str | None = None
    source_event_id: str | None = None

    @classmethod
    def parse(cls, body: bytes) -> TransferRequest:
        value = _object(body)
        portal_id, source = value.get("portal_document_id"), value.get("source_event_id")
        return cls(
            document_id=_document_id(value),
            sha256=_sha256(value),
            portal_document_id=portal_id if isinstance(portal_id, str) else None,
            source_event_id=source if isinstance(source, str) else None,
        )

    def body(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "portal_document_id": self.portal_document_id,
            "sha256": self.sha256,
            "source_event_id": self.source_event_id,
        }


@dataclass(frozen=True, slots=True)
class VerificationRequest:
    document_id: str
    sha256: str

    @classmethod
    def parse(cls, body: bytes) -> VerificationRequest:
        value = _object(body)
        return cls(document_id=_document_id(value), sha256=_sha256(value))
