"""Apply the versioned SQL migrations in ``migrations/``: ``python -m shared.migrate``.

Safe to run twice and from two processes at once: a session-level advisory lock serialises
runners, each file is applied in its own transaction together with its row in
``schema_migrations`` (version, name, sha256, applied_at), and a file whose content changed
after it was applied is refused rather than silently skipped.

Phases, for deployments where the old code keeps running against the new schema (Flex
Consumption has no slots): ``--phase expand`` applies the pending migrations up to the first
``NNNN_contract_*.sql`` and runs before the new code is deployed; ``--phase contract`` applies
the pending ``contract_`` migrations that come next, after the new code is live (they remove
what only the old code used). ``all`` (the default) applies everything, as local runs want.

``DATABASE_AUTH=entra`` connects with an Entra ID token as the password (:mod:`shared.db_auth`),
as the deploy pipeline's runner does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg

from shared.db_auth import AsyncTokenCredential, connection_auth
from shared.errors import ConfigurationError, DependencyUnavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# An arbitrary constant shared by every runner: "portal-integration migrations".
ADVISORY_LOCK_KEY = 0x5041_5254_4D49_47
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
CONTRACT_PREFIX = "contract_"

Phase = Literal["all", "expand", "contract"]
PHASES: tuple[Phase, ...] = ("all", "expand", "contract")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def is_contract(self) -> bool:
        """A contract step removes what only the previous code used: it runs after the deploy."""
        return self.name.startswith(CONTRACT_PREFIX)


def in_phase(pending: list[Migration], phase: Phase) -> list[Migration]:
    """The leading run of ``pending`` (in version order) that ``phase`` applies."""
    if phase == "all":
        return pending
    wanted = phase == "contract"
    selected: list[Migration] = []
    for migration in pending:
        if migration.is_contract != wanted:
            break
        selected.append(migration)
    return selected


def _connect_kwargs(auth: str, credential: AsyncTokenCredential | None) -> dict[str, Any]:
    """The password for ``DATABASE_AUTH`` (a fresh Entra ID token for ``entra``), if any."""
    conn_auth = connection_auth(auth, credential=credential)
    if not conn_auth.uses_entra:
        return {}

    async def resolve() -> dict[str, Any]:
        try:
            return await conn_auth()
        finally:
            await conn_auth.close()

    return asyncio.run(resolve())


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every ``NNNN_name.sql`` file in version order; a malformed name is a configuration error."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ConfigurationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigurationError("two migration files share a version number")
    return found


def apply_migrations(
    database_url: str,
    directory: Path = MIGRATIONS_DIR,
    *,
    phase: Phase = "all",
    auth: str = "password",
    credential: AsyncTokenCredential | None = None,
) -> list[Migration]:
    """Apply what is missing in ``phase``; return the migrations this call applied.

    ``auth`` is ``DATABASE_AUTH``; ``credential`` replaces ``DefaultAzureCredential`` for
    ``entra`` (tests, operator tools that hold one).
    """
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(database_url, autocommit=True, **_connect_kwargs(auth, credential)) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version     integer PRIMARY KEY,
                       name        text NOT NULL,
                       checksum    text NOT NULL,
                       applied_at  timestamptz NOT NULL DEFAULT now())"""
            )
            done = {
                row[0]: row[1]
                for row in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            }
            for migration in migrations:
                if migration.version in done and done[migration.version] != migration.checksum:
                    raise ConfigurationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was "
                        "applied; add a new migration instead of editing an applied one"
                    )
            pending = [m for m in migrations if m.version not in done]
            for migration in in_phase(pending, phase):
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        help="PostgreSQL URL (default: the DATABASE_URL setting, environment or local.settings.json)",
    )
    parser.add_argument(
        "--phase",
        choices=PHASES,
        default="all",
        help="expand: before deploying new code; contract: after it; all (default): everything",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = args.database_url or _setting("DATABASE_URL")
    if not url:
        raise SystemExit("migrate: DATABASE_URL is not set (environment or local.settings.json Values)")
    auth = _setting("DATABASE_AUTH") or "password"
    try:
        applied = apply_migrations(url, phase=args.phase, auth=auth)
    except psycopg.OperationalError as exc:
        print(f"migrate: cannot reach PostgreSQL at DATABASE_URL: {exc}".strip(), file=sys.stderr)
        return 1
    except (ConfigurationError, DependencyUnavailable) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {len(applied)} applied ({args.phase}), schema up to date for this phase")
    return 0


def _setting(name: str) -> str | None:
    """A setting from the environment, else ``local.settings.json`` Values; empty means unset."""
    import json
    import os

    if value := os.environ.get(name, "").strip():
        return value
    local = Path("local.settings.json")
    if local.exists():
        values = json.loads(local.read_text(encoding="utf-8")).get("Values", {})
        if value := str(values.get(name) or "").strip():
            return value
    return None


if __name__ == "__main__":
    raise SystemExit(main())
