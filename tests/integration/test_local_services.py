"""The bootstrap's fallbacks for a machine without PostgreSQL or Redis: embedded servers from PyPI."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import redis

from scripts import local_services

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_embedded_postgres_starts_even_as_root_and_takes_a_database():
    local = ROOT / ".local" / f"embedded-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        local_services.start_embedded_postgres(port, local)
        url = local_services.ensure_database(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", "portal_test"
        )
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("portal_test",)
    finally:
        if (local / "pgdata" / "postmaster.pid").exists():
            local_services.stop_embedded_postgres(local)
        shutil.rmtree(local, ignore_errors=True)


def test_embedded_redis_starts_and_answers():
    local = ROOT / ".local" / f"embedded-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        local_services.start_embedded_redis(port, local)
        client = redis.Redis(port=port)
        assert client.ping()
        client.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # shutdown closes the connection
    finally:
        shutil.rmtree(local, ignore_errors=True)


def test_a_named_service_that_does_not_answer_stops_with_how_to_start_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/local_services.py", "test", "--env-file", str(tmp_path / "env")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/x"},
    )
    assert result.returncode == 1
    assert "DATABASE_URL names PostgreSQL at 127.0.0.1:9, which does not answer" in result.stderr
    assert "pg_ctlcluster" in result.stderr
