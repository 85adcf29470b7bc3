"""Standard Webhooks signature verification for the portal's deliveries.

The portal signs ``"{webhook-id}.{webhook-timestamp}.{raw body}"`` with HMAC-SHA256 under each
of its current keys and sends every signature, space-separated, as ``v1,<base64>``. During a
secret rotation both sides hold several secrets, so a delivery is accepted when *any* ``v1``
signature matches *any* configured secret. Other signature versions are ignored (the spec
reserves them for future schemes), never rejected.

Every comparison goes through :func:`hmac.compare_digest`, and the loop visits every secret and
every signature even after a match, so the time taken says nothing about which secret or which
signature position matched. Keys are decoded once (:meth:`WebhookSecret.parse`) and each holds
a keyed HMAC state that is copied per request, which saves re-deriving the padded key blocks
for every delivery on this hot path.

Nothing here ever puts a secret, a signature or a body into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from shared.errors import ConfigurationError, PermanentError

__all__ = [
    "MalformedWebhookSecret",
    "SignatureFailure",
    "SignatureRejected",
    "WebhookSecret",
    "parse_webhook_secrets",
    "verify_signature",
]

_PREFIX: Final = "whsec_"
_SIGNATURE_VERSION: Final = "v1"
_DIGEST_SIZE: Final = hashlib.sha256().digest_size
# Unix seconds as ASCII digits. Twelve digits reach the year 33658: anything longer is not a
# timestamp, and bounding it keeps int() cheap on hostile input.
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
# Base64 of a 32-byte digest is 44 characters; allow a little slack for absent padding.
_MAX_SIGNATURE_CHARS: Final = 64
_MAX_SIGNATURES: Final = 16


class SignatureFailure(StrEnum):
    """Why a delivery's signature was refused; the reason code logged and counted."""

    MISSING_HEADERS = "missing_headers"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    TIMESTAMP_OUT_OF_WINDOW = "timestamp_out_of_window"
    MALFORMED_SIGNATURE = "malformed_signature"
    NO_MATCHING_SIGNATURE = "no_matching_signature"


class SignatureRejected(PermanentError):
    """The delivery's signature or timestamp is not acceptable: the receiver answers 401.

    ``reason`` is a :class:`SignatureFailure`; the message never includes header values.
    """

    status_code: Final = 401

    def __init__(self, reason: SignatureFailure) -> None:
        super().__init__(f"webhook signature rejected: {reason.value}")
        self.reason = reason


class MalformedWebhookSecret(ConfigurationError):
    """A configured ``whsec_`` secret cannot be decoded; the message names its position only."""


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """One decoded signing key, with a keyed HMAC-SHA256 state ready to be copied per request.

    Built with :meth:`parse`; ``repr`` and ``str`` never show the key.
    """

    key: bytes = field(repr=False)
    _mac: hmac.HMAC = field(repr=False, compare=False)

    @classmethod
    def from_key(cls, key: bytes) -> WebhookSecret:
        """A secret from raw key bytes (the part a ``whsec_`` string base64-encodes)."""
        if not key:
            raise MalformedWebhookSecret("webhook secret has an empty key")
        return cls(key=key, _mac=hmac.new(key, digestmod=hashlib.sha256))

    @classmethod
    def parse(cls, text: str, *, position: int = 1) -> WebhookSecret:
        """Decode ``whsec_<base64 key>``; a malformed secret raises :class:`MalformedWebhookSecret`.

        Missing base64 padding is tolerated (some tools strip it, and the reference
        implementation accepts it); any other non-base64 character is an error. ``position``
        (1-based) only serves to name the secret in the error, which never echoes it.
        """
        if not text.startswith(_PREFIX):
            raise MalformedWebhookSecret(f"webhook secret #{position} does not start with '{_PREFIX}'")
        encoded = text[len(_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedWebhookSecret(f"webhook secret #{position} is not valid base64") from None
        if not key:
            raise MalformedWebhookSecret(f"webhook secret #{position} has an empty key")
        return cls.from_key(key)

    def signature(self, signed_content_prefix: bytes, body: bytes) -> bytes:
        """The raw HMAC-SHA256 of ``prefix + body`` under this key (no copy of the body made)."""
        mac = self._mac.copy()
        mac.update(signed_content_prefix)
        mac.update(body)
        return mac.digest()


def parse_webhook_secrets(text: str) -> tuple[WebhookSecret, ...]:
    """Decode a space-separated list of ``whsec_`` secrets (the ``PORTAL_WEBHOOK_SECRETS`` form).

    Any run of white space separates secrets; an empty list is a configuration error, since a
    receiver without a secret could accept nothing (or, worse, be tempted to accept anything).
    """
    parts = text.split()
    if not parts:
        raise MalformedWebhookSecret("no webhook secret configured")
    return tuple(WebhookSecret.parse(part, position=index) for index, part in enumerate(parts, start=1))


def _decode_signatures(header: str) -> tuple[list[bytes], bool]:
    """The decoded ``v1`` signatures of the header, and whether any entry was malformed.

    An entry is ``<version>,<base64>``; entries of other versions are skipped unread. A ``v1``
    entry that is not base64 of a 32-byte digest counts as malformed.
    """
    signatures: list[bytes] = []
    malformed = False
    for entry in header.split()[:_MAX_SIGNATURES]:
        version, comma, encoded = entry.partition(",")
        if not comma or not version:
            malformed = True
            continue
        if version != _SIGNATURE_VERSION:
            continue
        if len(encoded) > _MAX_SIGNATURE_CHARS:
            malformed = True
            continue
        try:
            decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            malformed = True
            continue
        if len(decoded) != _DIGEST_SIZE:
            malformed = True
            continue
        signatures.append(decoded)
    return signatures, malformed


def verify_signature(
    *,
    secrets: Sequence[WebhookSecret],
    webhook_id: str | None,
    webhook_timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: float,
) -> None:
    """Accept the delivery or raise :class:`SignatureRejected` with the first failing reason.

    Order: the three headers present and non-empty (``missing_headers``); the timestamp is
    Unix seconds in ASCII digits (``malformed_timestamp``); it is at most ``tolerance_seconds``
    from ``now`` either way (``timestamp_out_of_window``; exactly at the edge is accepted); at
    least one ``v1`` signature matches one secret (``no_matching_signature``). When nothing
    matched and the header held malformed entries but no well-formed ``v1`` signature, the
    reason is ``malformed_signature`` instead. ``now`` is injected so tests control the clock.
    """
    if not webhook_id or not webhook_timestamp or not signature_header:
        raise SignatureRejected(SignatureFailure.MISSING_HEADERS)
    timestamp_text = webhook_timestamp
    if _TIMESTAMP.fullmatch(timestamp_text) is None:
        raise SignatureRejected(SignatureFailure.MALFORMED_TIMESTAMP)
    if abs(now - int(timestamp_text)) > tolerance_seconds:
        raise SignatureRejected(SignatureFailure.TIMESTAMP_OUT_OF_WINDOW)

    signatures, malformed = _decode_signatures(signature_header)
    if not signatures:
        raise SignatureRejected(
            SignatureFailure.MALFORMED_SIGNATURE if malformed else SignatureFailure.NO_MATCHING_SIGNATURE
        )

    # The signed content uses the timestamp exactly as sent, as the signer formatted it.
    prefix = f"{webhook_id}.{timestamp_text}.".encode()
    matched = False
    for secret in secrets:
        expected = secret.signature(prefix, body)
        for candidate in signatures:
            # No short-circuit: every pair is compared whatever the earlier outcomes.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureRejected(SignatureFailure.NO_MATCHING_SIGNATURE)
