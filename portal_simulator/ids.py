"""Identifiers the portal makes: a type prefix and an opaque random part; ATS ids are UUIDs.

The random part comes from an injected :class:`random.Random`, so a seeded simulator produces
the same ids run after run (useful for reproducible demos and tests).
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Final

EVENT: Final = "evt"
BATCH: Final = "bat"
CANDIDATE: Final = "cand"
SCREENING: Final = "scr"
ASSESSMENT: Final = "asm"
DOCUMENT: Final = "doc"
INTERVIEW_REQUEST: Final = "ireq"
INTERVIEW: Final = "int"
OFFER: Final = "off"
DELIVERY: Final = "dlv"

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Makes ``{prefix}_{22 base62 characters}`` ids and version-4 UUIDs from one random source."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def new(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(self._rng.choice(_ALPHABET) for _ in range(22))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
