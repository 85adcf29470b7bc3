"""The README path, as a new user takes it: a clean clone, ``make run`` with the sample settings,
``make demo``, then Ctrl-C with events still queued and ``make run`` again.

The one deviation from a new user's machine (documented in the README): the environment names
a ``DATABASE_URL`` of a database this test creates and drops, so a developer's own
``portal_integration`` database is never touched. Every other app setting is removed from the
environment; what the app gets is the sample, copied by ``make run`` as for anyone.

It clones the committed tree (``git clone`` of this checkout): uncommitted changes are not
what a new user would get, so they are not tested here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from shared.settings import SETTING_NAMES
from tests.support.events import candidate, profile_event, sign, uid

pytestmark = [pytest.mark.readme, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
APP_PORT, PORTAL_PORT = 7071, 7072
APP = f"http://127.0.0.1:{APP_PORT}"
SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text(encoding="utf-8"))["Values"]
#: Events sent by one bulk import right before Ctrl-C: enough that the processor cannot have
#: drained them all when the stop comes.
QUEUED_BEFORE_STOP = 3000
QUEUED = "SELECT count(*) FROM devhost.messages WHERE queue = 'portal-events'"
#: What a stop must never print.
UNCLEAN = ("Traceback", "Unclosed client session", "Unclosed connector", "Task was destroyed")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local URL)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (local URL)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _user_environment(database_url: str) -> dict[str, str]:
    """This process's environment without any app setting or test variable, plus the database."""
    settings = set(SAMPLE) | SETTING_NAMES | {"AzureWebJobsStorage", "DocumentsStorage"}
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in settings and "__" not in name and not name.startswith(("TEST_", "PYTEST_"))
    }
    environment["DATABASE_URL"] = database_url
    return environment


class MakeRun:
    """``make run`` in its own process group, as in a terminal where Ctrl-C reaches every process."""

    def __init__(self, clone: Path, environment: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=environment,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Until readiness answers 200 with every component up; fails with the log if not."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            try:
                status, body = _get_json(f"{APP}/api/health/ready")
            except OSError:
                status, body = None, None
            last = (status, body)
            # Ours, not another app that took the port meanwhile: devhost said it started.
            started = "Host started" in self.output()
            if started and status == 200 and {c["state"] for c in body["components"].values()} == {"up"}:
                return dict(body)
            time.sleep(1)
        pytest.fail(
            f"readiness never answered 200 with every component up (last {last}):\n{self.output()[-4000:]}"
        )

    def ctrl_c(self, timeout: float = 90) -> str:
        """SIGINT to the whole group, as a terminal's Ctrl-C; the output once everything stopped."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail(f"make run did not stop within {timeout} s of Ctrl-C:\n{self.output()[-4000:]}")
        deadline = time.monotonic() + 30
        while (_answers(APP_PORT) or _answers(PORTAL_PORT)) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._file.close()
        return self.output()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._file.close()


def _assert_clean_stop(output: str, which: str) -> None:
    for marker in UNCLEAN:
        assert marker not in output, f"the {which} stop printed {marker!r}:\n{output[-6000:]}"


@pytest.fixture
def readme_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"readme_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlsplit(postgres_admin_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    return target


def _count(database_url: str, sql: str, *params: Any) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def _check_demo_report(output: str, database_url: str) -> None:
    assert "0 delivery failure(s)" in output, output
    assert "What the ATS holds (5 candidates):" in output, output
    reported = dict(re.findall(r"^\s+(cand_\w+)\s+.*?stage=(\w+)", output, re.MULTILINE))
    assert len(reported) == 5, output
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT portal_candidate_id, stage FROM candidates").fetchall()
    held: dict[str, str] = dict(rows)
    assert reported == held
    assert re.search(r"^Events: \d+ processed; 0 deliveries rejected$", output, re.MULTILINE), output
    # Every candidate's document reached Blob Storage and passed verification.
    documents = re.findall(r"^\s+document \w+ \S+ \([\d,]+ bytes\) (\w+)", output, re.MULTILINE)
    assert documents, output
    assert set(documents) == {"verified"}, output
    assert re.search(rf"^Documents: {len(documents)} verified$", output, re.MULTILINE), output
    with psycopg.connect(database_url, autocommit=True) as conn:
        statuses = conn.execute("SELECT status, blob_path FROM candidate_documents").fetchall()
    assert len(statuses) == len(documents)
    assert all(status == "verified" and blob_path for status, blob_path in statuses), statuses
    _check_demo_outbound(output, database_url)


def _status_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"


def _check_demo_outbound(output: str, database_url: str) -> None:
    """Flows 2 and 4: interviews requested for everyone who reached `interview`, answered by the
    portal; offers for every scheduled interview, answered; the report agrees with the database."""
    reached = re.search(r"^The ATS's side: (\d+) candidate\(s\) reached the interview stage\.$", output, re.M)
    assert reached, output
    assert int(reached[1]) >= 1, output  # the scenario's first journey goes the whole way
    with psycopg.connect(database_url, autocommit=True) as conn:
        interviews: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM interviews GROUP BY 1").fetchall()
        )
        offers: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM offers GROUP BY 1").fetchall()
        )
        commands: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM sync_queue GROUP BY 1").fetchall()
        )
        hired = [
            r[0]
            for r in conn.execute(
                "SELECT portal_candidate_id FROM candidates WHERE stage = 'hired' ORDER BY 1"
            )
        ]
        accepted = conn.execute(
            "SELECT count(*) FROM offers o JOIN candidates c ON c.id = o.candidate_id "
            "WHERE o.status = 'accepted' AND c.stage = 'hired'"
        ).fetchone()
    assert sum(interviews.values()) == int(reached[1]), output
    assert set(interviews) <= {"scheduled", "declined"}, interviews  # every request answered
    assert sum(offers.values()) == interviews.get("scheduled", 0), output
    assert set(offers) <= {"accepted", "declined"}, offers  # every offer answered
    assert commands == {"completed": sum(interviews.values()) + sum(offers.values())}, commands
    assert accepted is not None
    assert accepted[0] == offers.get("accepted", 0) == len(hired)
    assert f"\nInterviews: {_status_line(interviews)}\n" in output, output
    assert f"\nOffers: {_status_line(offers)}\n" in output, output
    assert f"\nATS commands: {_status_line(commands)}\n" in output, output
    assert f"\nHired: {', '.join(hired) or 'nobody'}" in output, output


def _bulk_import(count: int) -> list[str]:
    """One signed import of ``count`` new profiles (the portal's bulk path); their event ids."""
    events = [profile_event(candidate()) for _ in range(count)]
    body = b"\n".join(json.dumps(event).encode() for event in events)
    headers = sign(SAMPLE["PORTAL_WEBHOOK_SECRETS"], uid("bat_"), body)
    headers["content-type"] = "application/x-ndjson"
    status, report = _post(f"{APP}/api/portal/candidates/import", body, headers)
    assert status == 200, report
    assert report["accepted"] == count, report
    return [event["id"] for event in events]


def test_a_new_user_runs_the_readme_path(clone: Path, readme_database: str, tmp_path: Path) -> None:
    for port in (APP_PORT, PORTAL_PORT):
        assert not _answers(port), (
            f"port {port} already answers on 127.0.0.1: stop what runs there (another `make run`?) "
            "before the README-path test"
        )
    environment = _user_environment(readme_database)

    first = MakeRun(clone, environment, tmp_path / "make-run-1.log")
    try:
        first.wait_ready(timeout=600)  # the first run also creates .venv and node_modules
        sample = (clone / "local.settings.sample.json").read_text()
        assert (clone / "local.settings.json").read_text() == sample

        demo = subprocess.run(
            ["make", "demo"], cwd=clone, env=environment, capture_output=True, text=True, timeout=300
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        _check_demo_report(demo.stdout, readme_database)
        before = _count(readme_database, "SELECT count(*) FROM webhook_events")

        event_ids = _bulk_import(QUEUED_BEFORE_STOP)
        stopped = first.ctrl_c()
    finally:
        first.kill()
    _assert_clean_stop(stopped, "first")
    still_queued = _count(readme_database, QUEUED)
    assert still_queued > 0, "every event was processed before the stop: nothing proved about queued ones"
    assert _count(readme_database, "SELECT count(*) FROM webhook_events") < before + QUEUED_BEFORE_STOP

    second = MakeRun(clone, environment, tmp_path / "make-run-2.log")
    try:
        second.wait_ready(timeout=180)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = _count(
                readme_database,
                "SELECT count(*) FROM webhook_events WHERE event_id = ANY(%s) AND status = 'processed'",
                event_ids,
            )
            if done == len(event_ids):
                break
            time.sleep(1)
        assert done == len(event_ids), f"{len(event_ids) - done} acknowledged events never applied"
        assert _count(readme_database, QUEUED) == 0
        dead = "SELECT count(*) FROM devhost.messages WHERE queue LIKE '%%$deadletterqueue'"
        assert _count(readme_database, dead) == 0
        stopped = second.ctrl_c()
    finally:
        second.kill()
    _assert_clean_stop(stopped, "second")
