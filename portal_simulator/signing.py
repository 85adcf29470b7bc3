"""Standard Webhooks signing, as the contract states it.

``webhook-signature`` is one ``v1,<base64>`` per configured secret, space-separated, where each
signature is ``base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{raw body}"))`` and
``key`` is the base64-decoded part of a ``whsec_<base64>`` secret. Several secrets mean a
rotation in progress: the ATS accepts the delivery when any signature matches any of its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random

SECRET_PREFIX = "whsec_"


def parse_secrets(value: str) -> tuple[bytes, ...]:
    """Keys of a space-separated list of ``whsec_<base64>`` secrets.

    Raises ``ValueError`` naming the position of a malformed secret (never its value).
    """
    keys: list[bytes] = []
    for position, secret in enumerate(value.split(), start=1):
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError(f"webhook secret #{position} does not start with {SECRET_PREFIX!r}")
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError(f"webhook secret #{position} is not valid base64") from None
        if not key:
            raise ValueError(f"webhook secret #{position} is empty")
        keys.append(key)
    if not keys:
        raise ValueError("no webhook secret configured")
    return tuple(keys)


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{msg_id}.{timestamp}.{body}``."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(keys: tuple[bytes, ...], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every key."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key, msg_id, timestamp, body) for key in keys),
    }


def new_secret(rng: random.Random | None = None) -> str:
    """A fresh ``whsec_`` secret with a 32-byte key (from ``rng`` when given, for tests)."""
    key = rng.randbytes(32) if rng is not None else random.SystemRandom().randbytes(32)
    return SECRET_PREFIX + base64.b64encode(key).decode()
