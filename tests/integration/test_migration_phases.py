"""Expand/contract: the deploy applies additive migrations before the new code and removals after.

Flex Consumption has no deployment slots, so the old code runs against the new schema while the
new code rolls out; ``--phase expand`` must therefore stop before a ``contract_`` migration,
which only ``--phase contract`` (after the deploy) applies.
"""

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from shared.migrate import apply_migrations

ROOT = Path(__file__).resolve().parents[2]

RELEASE = {
    "0001_base.sql": "CREATE TABLE t (id int PRIMARY KEY, old_name text);",
    "0002_add_new_name.sql": "ALTER TABLE t ADD COLUMN new_name text;",
    "0003_contract_drop_old_name.sql": "ALTER TABLE t DROP COLUMN old_name;",
    "0004_next_release_index.sql": "CREATE INDEX t_new_name ON t (new_name);",
}


@pytest.fixture
def database_url(postgres_admin_url):
    """An empty database: these tests bring their own migrations."""
    import uuid

    from tests.conftest import _with_database

    name = f"it_phases_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_admin_url, name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    for name, sql in RELEASE.items():
        (tmp_path / name).write_text(sql)
    return tmp_path


def _columns(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def test_expand_stops_before_the_first_contract_step(database_url, directory):
    applied = apply_migrations(database_url, directory, phase="expand")
    assert [m.version for m in applied] == [1, 2]
    assert _columns(database_url) == ["id", "new_name", "old_name"]  # the old code still finds its column
    assert apply_migrations(database_url, directory, phase="expand") == []


def test_contract_applies_only_the_contract_steps_that_come_next(database_url, directory):
    apply_migrations(database_url, directory, phase="expand")
    applied = apply_migrations(database_url, directory, phase="contract")
    assert [m.version for m in applied] == [3]
    assert _columns(database_url) == ["id", "new_name"]
    # The next release's expand step waits for the next deploy's expand phase.
    assert [m.version for m in apply_migrations(database_url, directory, phase="expand")] == [4]


def test_contract_before_expand_applies_nothing(database_url, directory):
    assert apply_migrations(database_url, directory, phase="contract") == []


def test_all_applies_everything_as_local_runs_do(database_url, directory):
    assert [m.version for m in apply_migrations(database_url, directory)] == [1, 2, 3, 4]


def test_the_command_takes_the_phase(database_url):
    result = subprocess.run(
        [sys.executable, "-m", "shared.migrate", "--database-url", database_url, "--phase", "contract"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "0 applied (contract)" in result.stdout  # nothing was expanded yet
