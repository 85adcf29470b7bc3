"""Migrations: one command, safe twice and from two processes at once; the schema keeps the rules."""

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from shared.errors import ConfigurationError
from shared.migrate import apply_migrations, discover

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(postgres_admin_url):
    import uuid

    from tests.conftest import _with_database

    name = f"it_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_admin_url, name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_command_applies_everything_and_records_it(empty_database):
    result = subprocess.run(
        [sys.executable, "-m", "shared.migrate", "--database-url", empty_database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(discover())} applied" in result.stdout
    with psycopg.connect(empty_database) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert versions == [m.version for m in discover()]
    assert {
        "candidates",
        "candidate_stage_history",
        "portal_assessments",
        "webhook_events",
        "rejected_deliveries",
        "sync_queue",
        "portal_activity_log",
        "interviews",
        "offers",
        "candidate_documents",
        "outbox",
        "parked_messages",
    } <= tables


def test_running_twice_applies_nothing_the_second_time(empty_database):
    assert len(apply_migrations(empty_database)) == len(discover())
    assert apply_migrations(empty_database) == []


def test_two_processes_at_once_apply_each_migration_once(empty_database):
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "shared.migrate", "--database-url", empty_database],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    applied = sorted(int(out.split(" applied")[0].split()[-1]) for out, _ in outputs)
    assert applied == [0, 0, len(discover())]
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(discover()),)


def test_an_edited_applied_migration_is_refused(empty_database, tmp_path):
    for migration in discover():
        (tmp_path / f"{migration.version:04d}_{migration.name}.sql").write_text(migration.sql)
    apply_migrations(empty_database, tmp_path)
    first = sorted(tmp_path.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(ConfigurationError, match="changed after it was applied"):
        apply_migrations(empty_database, tmp_path)


def test_unreachable_database_is_a_clear_error():
    result = subprocess.run(
        [sys.executable, "-m", "shared.migrate", "--database-url", "postgresql://postgres@127.0.0.1:9/x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach PostgreSQL" in result.stderr


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("INSERT INTO candidates (portal_candidate_id, stage) VALUES ('cand_1', 'shortlisted')", "stage"),
        ("INSERT INTO candidates (portal_candidate_id) VALUES ('bob')", "portal_candidate_id"),
        (
            "INSERT INTO webhook_events (event_type, event_id, payload, processed, status, received_at) "
            "VALUES ('x', 'evt_1', '{}', false, 'processed', now())",
            "processed",
        ),
        (
            "INSERT INTO sync_queue (command_id, operation_type, entity_id, payload, status) "
            "VALUES (gen_random_uuid(), 'offer.send', 'x', '{}', 'waiting')",
            "status",
        ),
    ],
)
def test_the_schema_refuses_values_outside_the_rules(database_url, statement, constraint):
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(statement)


def test_ids_are_unique_in_the_database(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO candidates (portal_candidate_id) VALUES ('cand_1')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO candidates (portal_candidate_id) VALUES ('cand_1')")


def test_screening_band_must_be_a_known_band(database_url):
    with psycopg.connect(database_url) as conn:
        sql = "INSERT INTO candidates (portal_candidate_id) VALUES ('cand_1') RETURNING id"
        row = conn.execute(sql).fetchone()
        assert row is not None
        cid = row[0]
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO portal_assessments "
                "(candidate_id, assessment_type, status, portal_assessment_id, band) "
                "VALUES (%s, 'ai_screening', 'completed', 'scr_1', 'excellent')",
                (cid,),
            )
