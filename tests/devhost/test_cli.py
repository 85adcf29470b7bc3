"""``python -m devhost send`` and ``dead-letters`` as a developer types them (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from devhost.cli import parse_property
from shared.messaging import OutboundMessage
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.pg_receiver import PgQueueReceiver
from tests.devhost.process import REPO, devhost_environ

pytestmark = pytest.mark.integration

LOCK = timedelta(seconds=30)


@pytest.fixture
def settings_file(tmp_path, database_url):
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"ServiceBusConnection": database_url}}))
    return path


@pytest.fixture
async def queues(database_url):
    pool = QueuePool(database_url)
    yield PgQueueSender(pool), PgQueueReceiver(pool)
    await pool.close()


async def devhost(*args: str, stdin: bytes = b"", environ: dict[str, str] | None = None):
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "devhost", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        env=environ or devhost_environ(),
        timeout=30,
        check=False,
    )


def test_property_values_are_typed() -> None:
    assert parse_property("attempt=3") == ("attempt", 3)
    assert parse_property("ratio=0.5") == ("ratio", 0.5)
    assert parse_property("flag=true") == ("flag", True)
    assert parse_property("kind=a=b") == ("kind", "a=b")


async def test_send_from_stdin_with_id_properties_and_schedule(settings_file, queues) -> None:
    _, receiver = queues
    before = datetime.now(UTC)
    done = await devhost(
        "send",
        "portal-events",
        "-",
        "--settings-file",
        str(settings_file),
        "--message-id",
        "evt-1",
        "--property",
        "attempt=2",
        "--property",
        "source=cli",
        "--scheduled-in",
        "5",  # long enough that a loaded machine cannot make it due already
        stdin=b'{"hello": "world"}',
    )
    assert done.returncode == 0, done.stderr
    assert b"sent evt-1 to portal-events" in done.stdout
    assert await receiver.receive("portal-events", 10, LOCK) == []  # scheduled: not yet
    due = await receiver.next_visible_at("portal-events")
    assert due is not None
    assert due >= before + timedelta(seconds=5)
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.05)
    [got] = await receiver.receive("portal-events", 10, LOCK)
    assert (got.message_id, got.body) == ("evt-1", b'{"hello": "world"}')
    assert got.application_properties == {"attempt": 2, "source": "cli"}

    again = await devhost(
        "send",
        "portal-events",
        "-",
        "--settings-file",
        str(settings_file),
        "--message-id",
        "evt-1",
        stdin=b"{}",
    )
    assert again.returncode == 0
    assert b"dropped as a duplicate" in again.stdout


async def test_send_from_a_file_the_environment_wins_over_the_settings_file(
    tmp_path, settings_file, queues, database_url
) -> None:
    _, receiver = queues
    body = tmp_path / "body.json"
    body.write_text('{"from": "file"}')
    broken = tmp_path / "broken.settings.json"
    broken.write_text(json.dumps({"Values": {"ServiceBusConnection": "postgresql://nobody@127.0.0.1:1/x"}}))
    done = await devhost(
        "send",
        "q",
        str(body),
        "--settings-file",
        str(broken),
        environ=devhost_environ(ServiceBusConnection=database_url),
    )
    assert done.returncode == 0, done.stderr
    [got] = await receiver.receive("q", 10, LOCK)
    assert got.body == b'{"from": "file"}'


async def test_send_without_a_queue_connection_is_a_clear_error(tmp_path) -> None:
    done = await devhost("send", "q", "-", "--settings-file", str(tmp_path / "none.json"), stdin=b"{}")
    assert done.returncode == 1
    assert b"ServiceBusConnection" in done.stderr


async def test_dead_letters_list_and_resubmit(settings_file, queues) -> None:
    sender, receiver = queues
    await sender.send("work", [OutboundMessage(body=b"{}", message_id=f"m-{i}") for i in range(3)])
    got = await receiver.receive("work", 10, LOCK)
    await receiver.dead_letter(got, "MaxDeliveryCountExceeded", "ValueError: bad input\nsecond line")

    listing = await devhost("dead-letters", "work", "--settings-file", str(settings_file))
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.decode().splitlines()
    assert lines[0] == "3 dead letter(s) on work"
    assert lines[1].split("\t") == [
        "id",
        "message_id",
        "reason",
        "description",
        "delivery_count",
        "dead_lettered_at",
    ]
    first = lines[2].split("\t")
    assert first[1:5] == ["m-0", "MaxDeliveryCountExceeded", "ValueError: bad input second line", "1"]

    one = await devhost("dead-letters", "work", "--resubmit", first[0], "--settings-file", str(settings_file))
    assert one.returncode == 0, one.stderr
    assert b"resubmitted 1 message(s) to work" in one.stdout
    assert [m.message_id for m in await receiver.receive("work", 10, LOCK)] == ["m-0"]

    missing = await devhost(
        "dead-letters", "work", "--resubmit", first[0], "--settings-file", str(settings_file)
    )
    assert missing.returncode == 1
    assert b"no dead letter" in missing.stderr

    rest = await devhost("dead-letters", "work", "--all", "--settings-file", str(settings_file))
    assert b"resubmitted 2 message(s)" in rest.stdout
    assert sorted(m.message_id for m in await receiver.receive("work", 10, LOCK)) == ["m-1", "m-2"]
    assert await receiver.dead_letters("work") == []
