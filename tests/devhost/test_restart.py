"""Messages in flight survive a killed devhost, and a clean shutdown loses nothing.

devhost runs as a real subprocess (``python -m devhost``) on this test's database.
"""

from __future__ import annotations

import json
import signal
from datetime import timedelta

import psycopg
import pytest

from shared.messaging import OutboundMessage
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.pg_receiver import PgQueueReceiver
from tests.devhost.process import DevhostProcess, devhost_environ
from tests.devhost.waiting import eventually

pytestmark = pytest.mark.e2e

QUEUE = "durable-work"


@pytest.fixture
def processed_table(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TABLE devhost_test_processed (message_id text, delivery_count int, pid int, "
            "at timestamptz DEFAULT clock_timestamp())"
        )


def processed(database_url) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM devhost_test_processed ORDER BY at")]


def locked(database_url) -> int:
    """Messages held under a lock right now (in flight in some devhost)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM devhost.messages WHERE locked_until > now()").fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def devhost(tmp_path, database_url):
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"Values": {"ServiceBusConnection": database_url, "WORK_QUEUE": "from-file-not-used"}})
    )
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"serviceBus": {"maxConcurrentCalls": 4}}}))

    # WORK_QUEUE from the environment wins over local.settings.json.
    def make(*extra: str, sleep: float = 0.4) -> DevhostProcess:
        environ = devhost_environ(WORK_QUEUE=QUEUE, DURABLE_SLEEP=str(sleep))
        args = [
            "--app",
            "tests.devhost.apps.durable_app:app",
            "--settings-file",
            str(tmp_path / "local.settings.json"),
            "--host-json",
            str(tmp_path / "host.json"),
            "--port",
            "0",
            *extra,
        ]
        return DevhostProcess(args, environ, tmp_path / "devhost.log")

    return make


@pytest.fixture
async def queues(database_url):
    pool = QueuePool(database_url)
    yield PgQueueSender(pool), PgQueueReceiver(pool)
    await pool.close()


async def test_sigkill_with_messages_in_flight_then_restart_processes_every_message(
    devhost, queues, database_url, processed_table
) -> None:
    sender, receiver = queues
    ids = [f"m-{i:02}" for i in range(20)]
    await sender.send(QUEUE, [OutboundMessage(body=b"{}", message_id=i) for i in ids])

    first = await devhost("--lock-duration", "1").start()
    assert "durable: serviceBusTrigger queue=durable-work" in first.banner
    assert "/api/ping" in first.banner
    await eventually(lambda: len(processed(database_url)) >= 4 and locked(database_url) > 0, timeout=10)
    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL  # no chance to settle anything
    done_before = set(processed(database_url))
    assert len(done_before) < len(ids)  # there was work left, some of it locked in flight

    second = await devhost("--lock-duration", "1").start()
    await eventually(lambda: set(processed(database_url)) == set(ids), timeout=20)
    assert await second.stop(signal.SIGTERM) == 0
    assert set(processed(database_url)) == set(ids)
    assert await receiver.next_visible_at(QUEUE) is None  # nothing left behind
    assert await receiver.dead_letters(QUEUE) == []


async def test_ctrl_c_stops_cleanly_and_abandons_unfinished_messages(
    devhost, queues, database_url, processed_table
) -> None:
    sender, receiver = queues
    ids = [f"m-{i:02}" for i in range(12)]
    await sender.send(QUEUE, [OutboundMessage(body=b"{}", message_id=i) for i in ids])
    host = await devhost("--lock-duration", "60", "--shutdown-grace", "0.1", sleep=2.0).start()
    await eventually(lambda: locked(database_url) == 4, timeout=10)  # maxConcurrentCalls in flight
    assert await host.stop(signal.SIGINT) == 0
    assert processed(database_url) == []  # each needs 2 s; the grace was 0.1 s
    # Everything is visible again at once (abandoned, not left under a 60 s lock).
    rest = await receiver.receive(QUEUE, 100, timedelta(seconds=30))
    assert sorted(m.message_id for m in rest) == ids
    assert sorted(m.delivery_count for m in rest) == [1] * 8 + [2] * 4  # the 4 in flight came back
    assert "4 unfinished message(s) abandoned at shutdown" in host.log_path.read_text()


async def test_a_required_setting_missing_stops_the_start_with_its_name(tmp_path, database_url) -> None:
    host = DevhostProcess(
        [
            "--app",
            "tests.devhost.apps.replay_app:app",
            "--settings-file",
            str(tmp_path / "none.json"),
            "--port",
            "0",
        ],
        devhost_environ(ServiceBusConnection=database_url),
        tmp_path / "devhost.log",
    )
    with pytest.raises(AssertionError, match="devhost exited before starting"):
        await host.start()
    assert host.proc is not None
    assert await host.proc.wait() == 1
    log = host.log_path.read_text()
    assert "SYNC_REPLAY_SCHEDULE" in log
    assert "'replay'" in log
