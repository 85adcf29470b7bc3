"""The CLI's conventions, for every command the areas define: --help, --json, --dry-run where
data changes, exit statuses, settings read as the app reads them, errors that name the setting
and never print a secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ops.cli import discover_areas
from ops.command import Area
from tests.support.ops import Ops

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = [(area.name, command) for area in discover_areas() for command in area.commands.values()]


@pytest.fixture
def ops(capsys) -> Ops:
    return Ops(capsys, {})


def test_the_areas_are_found_by_module() -> None:
    assert {area.name for area in discover_areas()} >= {"events", "dead-letters"}
    assert {(area, command.verb) for area, command in COMMANDS} >= {
        ("events", "list"),
        ("events", "show"),
        ("dead-letters", "list"),
        ("dead-letters", "resubmit"),
    }


@pytest.mark.parametrize(("area", "command"), COMMANDS, ids=[f"{a} {c.verb}" for a, c in COMMANDS])
async def test_every_command_has_help_json_and_dry_run_when_it_changes_data(ops, area, command) -> None:
    run = await ops(area, command.verb, "--help")
    assert run.status == 0
    assert run.out.startswith(f"usage: python -m ops {area} {command.verb}")
    assert command.handler.__doc__, "the docstring is the command's --help description"
    assert command.description.splitlines()[0] in run.out
    assert "--json" in run.out
    assert "--settings-file" in run.out
    assert ("--dry-run" in run.out) == command.changes_data


@pytest.mark.parametrize("argv", [("--help",), ("events", "--help"), ("dead-letters", "--help")])
async def test_the_program_and_each_area_have_help(ops, argv) -> None:
    run = await ops(*argv)
    assert run.status == 0
    assert "usage: python -m ops" in run.out


def test_python_dash_m_ops_is_the_program() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "ops", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0, helped.stderr
    assert "events" in helped.stdout
    assert "dead-letters" in helped.stdout
    bare = subprocess.run(
        [sys.executable, "-m", "ops"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert bare.returncode == 2
    assert "AREA" in bare.stderr


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("nope",),
        ("events",),
        ("events", "nope"),
        ("events", "list", "--status", "lost"),
        ("events", "list", "--since", "yesterday"),
        ("events", "list", "--limit", "0"),
        ("events", "show"),
        ("dead-letters", "list", "no-such-queue"),
        ("dead-letters", "resubmit", "portal-events"),  # neither --message-id nor --all
        ("dead-letters", "resubmit", "portal-events", "--all", "--message-id", "evt_1"),
    ],
)
async def test_usage_errors_exit_2_before_touching_anything(ops, argv) -> None:
    run = await ops(*argv, environ={"DATABASE_URL": "postgresql://u@127.0.0.1:1/never-reached"})
    assert run.status == 2
    assert "usage: python -m ops" in run.err


@pytest.mark.parametrize("environ", [{}, {"DATABASE_URL": ""}, {"DATABASE_URL": "   "}])
async def test_a_missing_database_url_is_named(ops, environ) -> None:
    run = await ops("events", "list", environ=environ)
    assert run.status == 2
    assert run.out == ""
    assert run.err.startswith("ops: error: DATABASE_URL is required and not set")

    as_json = await ops("events", "list", "--json", environ=environ)
    assert as_json.status == 2
    assert as_json.data["error"]["kind"] == "configuration"
    assert "DATABASE_URL" in as_json.data["error"]["message"]


async def test_only_the_settings_a_command_uses_are_demanded(ops, database_url) -> None:
    # No REDIS_URL, PORTAL_BASE_URL, secrets ... : the app would refuse to start, ops needs none.
    run = await ops("events", "list", environ={"DATABASE_URL": database_url})
    assert run.status == 0, run.err
    missing_bus = await ops("dead-letters", "list", "portal-events", environ={"DATABASE_URL": database_url})
    assert missing_bus.status == 2
    assert "ServiceBusConnection" in missing_bus.err
    parked_only = await ops(
        "dead-letters", "list", "portal-events", "--source", "parked", environ={"DATABASE_URL": database_url}
    )
    assert parked_only.status == 0, parked_only.err


async def test_a_malformed_or_unreachable_database_is_named_without_its_password(ops) -> None:
    malformed = await ops("events", "list", environ={"DATABASE_URL": "mysql://ops:hunter2@db.example/ats"})
    assert malformed.status == 2
    assert "DATABASE_URL must be a postgresql://" in malformed.err
    unreachable = await ops(
        "events", "list", "--json", environ={"DATABASE_URL": "postgresql://ops:hunter2@127.0.0.1:1/ats"}
    )
    assert unreachable.status == 3
    assert "127.0.0.1:1/ats (DATABASE_URL) did not answer" in unreachable.err
    assert unreachable.data["error"]["kind"] == "unavailable"
    for run in (malformed, unreachable):
        assert "hunter2" not in run.out + run.err


async def test_local_settings_fill_in_what_the_environment_leaves_unset(ops, database_url, tmp_path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {"DATABASE_URL": database_url}}))
    from_file = await ops("events", "list", environ={"DATABASE_URL": ""}, settings_file=settings)
    assert from_file.status == 0, from_file.err

    settings.write_text(json.dumps({"Values": {"DATABASE_URL": "postgresql://u@127.0.0.1:1/not-this"}}))
    env_wins = await ops("events", "list", environ={"DATABASE_URL": database_url}, settings_file=settings)
    assert env_wins.status == 0, env_wins.err

    named = await ops(
        "events", "list", "--settings-file", str(tmp_path / "other.json"), environ={}, settings_file=settings
    )
    assert named.status == 2  # --settings-file replaces the default file, which is not read
    assert "DATABASE_URL" in named.err


async def test_a_missing_setting_stops_a_resubmit_before_anything_moves(ops, database_url) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO parked_messages (queue, message_id, body, reason, attempts) "
            "VALUES ('portal-events', 'evt_1:r30', '{\"id\": \"evt_1\"}', 'transient failures', 31)"
        )
    run = await ops(
        "dead-letters", "resubmit", "portal-events", "--all", environ={"DATABASE_URL": database_url}
    )
    assert run.status == 2
    assert "ServiceBusConnection" in run.err
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT message_id FROM parked_messages").fetchall() == [("evt_1:r30",)]


def test_a_verb_registered_twice_is_refused() -> None:
    area = Area("twice", "test")

    async def handler(ctx, args):
        raise AssertionError

    area.command("list", help="one")(handler)
    with pytest.raises(ValueError, match="registered twice"):
        area.command("list", help="two")(handler)
