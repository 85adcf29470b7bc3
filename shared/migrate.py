"""Apply the versioned SQL migrations in ``migrations/``: ``python -m shared.migrate``.

Safe to run twice and from two processes at once: a session-level advisory lock serialises
runners, each file is applied in its own transaction together with its row in
``schema_migrations`` (version, name, sha256, applied_at), and a file whose content changed
after it was applied is refused rather than silently skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

from shared.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# An arbitrary constant shared by every runner: "portal-integration migrations".
ADVISORY_LOCK_KEY = 0x5041_5254_4D49_47
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


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


def apply_migrations(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply what is missing; return the migrations this call applied (empty when up to date)."""
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
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
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise ConfigurationError(
                            f"migration {migration.version:04d}_{migration.name} changed after it was "
                            "applied; add a new migration instead of editing an applied one"
                        )
                    continue
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = args.database_url or _database_url_from_settings()
    try:
        applied = apply_migrations(url)
    except psycopg.OperationalError as exc:
        print(f"migrate: cannot reach PostgreSQL at DATABASE_URL: {exc}".strip(), file=sys.stderr)
        return 1
    except ConfigurationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: {len(applied)} applied, schema up to date")
    return 0


def _database_url_from_settings() -> str:
    import json
    import os

    from shared.settings import setting

    if url := setting(os.environ, "DATABASE_URL"):
        return url
    local = Path("local.settings.json")
    if local.exists():
        values = json.loads(local.read_text(encoding="utf-8")).get("Values", {})
        if url := setting({k: str(v) for k, v in values.items()}, "DATABASE_URL"):
            return url
    raise SystemExit("migrate: DATABASE_URL is not set (environment or local.settings.json Values)")


if __name__ == "__main__":
    raise SystemExit(main())
