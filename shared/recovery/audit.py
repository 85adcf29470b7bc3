"""``audit_log``: what an operator (or the retention timer) did to stored data.

One row per act: who (``actor``: the OS user running ``ops``, or ``timer``), what (``action``:
``events.replay``, ``candidates.rebuild``, ``candidates.erase``, ``retention.purge``,
``alerts.resolve``), about which id (``subject``: an event id, a portal candidate id), and
figures (``details``: counts, new message ids, stages). Never personal data: no names, no
e-mail addresses, no payloads.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

RECORD = "INSERT INTO audit_log (actor, action, subject, details) VALUES (%s, %s, %s, %s)"


def operator() -> str:
    """Who runs the command: ``OPS_ACTOR`` when set (a pipeline names itself), else the OS user."""
    explicit = os.environ.get("OPS_ACTOR", "").strip()
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


async def record(
    conn: AsyncConnection[Any], action: str, subject: str | None, details: Mapping[str, Any], *, actor: str
) -> None:
    await conn.execute(RECORD, (actor, action, subject, Jsonb(dict(details))))
