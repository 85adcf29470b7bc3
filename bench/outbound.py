"""Outbound benchmark: ATS commands through sync_dispatcher to the portal, each beside bare POSTs.

    python bench/outbound.py            # full run (about 3 minutes on a 2-core machine)
    python bench/outbound.py --quick    # about 1 minute
    python bench/outbound.py --help

The portal is the simulator, in its own process, with its follow-up webhooks off (the app must
not be measured receiving answers). Both figures compare the dispatcher with the same number of
bare ``httpx`` POSTs (same bodies, unique Idempotency-Keys) to the same simulator, at the same
concurrency, in the same run:

1. **Commands per second**: ``--commands`` interview requests are put on ``ats-outbound`` (the
   PostgreSQL queues), then devhost starts the real ``sync_dispatcher`` blueprint alone
   (``bench/outbound_app.py``); its queue trigger takes one message per invocation, up to
   host.json's ``maxConcurrentCalls`` at once. The clock runs from devhost's "Host started"
   line until every command's ``sync_queue`` row is ``completed``. Baseline: the same number of
   POSTs from ``maxConcurrentCalls`` concurrent workers.
2. **Draining after an outage**: ``--drain-rows`` ``sync_queue`` rows (one failed attempt each,
   due now, as an outage leaves them) are replayed by the timer (every second, 16 calls in
   flight within each run's budget). The clock runs from "Host started" until every
   row is ``completed``. Baseline: the same number of POSTs from 16 concurrent workers.

PostgreSQL and Redis come from ``TEST_POSTGRES_URL``/``TEST_REDIS_URL`` or the usual ports; the
benchmark makes its own database and Redis prefix and removes them at the end. Figures, not
pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from bench.ingest import (  # noqa: E402
    CpuUse,
    Environment,
    _free_port,
    cpu_sample,
    devhost_argv,
    port_open,
    wait_until,
)

HOST_JSON = json.loads((ROOT / "host.json").read_text())
MAX_CONCURRENT_CALLS = int(HOST_JSON["extensions"]["serviceBus"]["maxConcurrentCalls"])
REPLAY_CONCURRENCY = 16
ROUTE = "/v1/interview-requests"


# --- the workload ---------------------------------------------------------------------------


def interview_data(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "duration_minutes": 45,
        "proposed_slots": [{"start": "2027-02-01T10:00:00Z", "end": "2027-02-01T10:45:00Z"}],
        "timezone": "Europe/London",
    }


@dataclass
class Candidates:
    ats_ids: list[str]
    portal_ids: list[str]


async def seed_candidates(portal_url: str, database_url: str, count: int, token: str) -> Candidates:
    """``count`` candidates known to the portal (its admin API) and to the ATS (one INSERT)."""
    portal_ids = [f"cand_bench{token}{n:06d}" for n in range(count)]
    ats_ids = [str(uuid.uuid4()) for _ in range(count)]
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=portal_url, timeout=30) as admin:

        async def register(pid: str) -> None:
            async with limit:
                response = await admin.post("/admin/candidates", json={"candidate": {"id": pid}})
                response.raise_for_status()

        await asyncio.gather(*(register(pid) for pid in portal_ids))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO candidates (id, portal_candidate_id, stage) "
            "SELECT * , 'interview' FROM unnest(%s::uuid[], %s::text[])",
            (ats_ids, portal_ids),
        )
    return Candidates(ats_ids, portal_ids)


async def enqueue_commands(queue_url: str, ats_ids: list[str]) -> list[str]:
    """One ``interview.request`` per candidate on ``ats-outbound``; the command ids."""
    from shared.messaging import ATS_OUTBOUND, OutboundMessage
    from shared.messaging.pg_queue import PgQueueSender

    commands: list[dict[str, Any]] = [
        {"command_id": str(uuid.uuid4()), "type": "interview.request", "candidate_id": cid,
         "data": interview_data(str(uuid.uuid4()))}
        for cid in ats_ids
    ]  # fmt: skip
    sender = PgQueueSender(queue_url)
    try:
        for start in range(0, len(commands), 500):
            chunk = commands[start : start + 500]
            messages = [
                OutboundMessage(body=json.dumps(c).encode(), message_id=c["command_id"]) for c in chunk
            ]
            assert await sender.store(ATS_OUTBOUND, messages) == len(messages)
    finally:
        await sender.close()
    return [str(c["command_id"]) for c in commands]


def insert_due_rows(database_url: str, candidates: Candidates, count: int) -> None:
    """``count`` rows as an outage leaves them: one failed attempt each, all due now, with their
    interviews ``requested``; built with the product's own command reading."""
    from shared.outbound.commands import Command, read_command

    now = datetime.now(UTC)
    rows, interviews = [], []
    for cid, pid in zip(candidates.ats_ids[:count], candidates.portal_ids[:count], strict=True):
        document = {"command_id": str(uuid.uuid4()), "type": "interview.request", "candidate_id": cid,
                    "data": interview_data(str(uuid.uuid4()))}  # fmt: skip
        command = read_command(json.dumps(document).encode())
        assert isinstance(command, Command)
        payload = {"command": document, "portal_candidate_id": pid, "request": command.portal_body(pid)}
        rows.append((str(command.command_id), command.entity_key, cid, json.dumps(payload)))
        interviews.append((command.entity_key, cid))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO interviews (id, candidate_id, status) "
            "SELECT *, 'requested' FROM unnest(%s::uuid[], %s::uuid[])",
            ([i[0] for i in interviews], [i[1] for i in interviews]),
        )
        conn.execute(
            "INSERT INTO sync_queue (command_id, operation_type, entity_id, candidate_id, payload, status, "
            "retry_count, next_retry, last_attempt, first_attempt_at, last_error, http_status, created_at) "
            "SELECT t.c, 'interview.request', t.e, t.cand, t.p::jsonb, 'pending', 1, %s, %s, %s, "
            "'portal answered 503 to POST /v1/interview-requests', 503, %s "
            "FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::text[]) AS t(c, e, cand, p)",
            (now, now - timedelta(seconds=30), now - timedelta(seconds=30), now - timedelta(seconds=30),
             [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]),
        )  # fmt: skip
        conn.execute("VACUUM ANALYZE sync_queue")


# --- the baseline ---------------------------------------------------------------------------


async def bare_posts(portal_url: str, api_key: str, portal_ids: list[str], concurrency: int) -> float:
    """One POST per id from ``concurrency`` keep-alive workers; seconds taken (all must be 201)."""
    bodies = [{**interview_data(str(uuid.uuid4())), "candidate_id": pid} for pid in portal_ids]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=portal_url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(
                    ROUTE, json=body,
                    headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": str(uuid.uuid4())},
                )  # fmt: skip
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    assert statuses == {201: len(bodies)}, statuses
    return seconds


# --- the dispatcher under devhost -----------------------------------------------------------


@dataclass
class Figure:
    name: str
    count: int
    seconds: float
    baseline_seconds: float
    cpu: CpuUse
    simulator_cpu: float
    baseline_simulator_cpu: float
    outcomes: dict[str, int]
    retries: int
    invocations: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def baseline_rate(self) -> float:
        return self.count / self.baseline_seconds

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_rate


def completed(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM sync_queue WHERE status = 'completed'").fetchone()
    return int(row[0]) if row else 0


def run_dispatcher(env: Environment, environ: dict[str, str], name: str, target: int, timeout: float,
                   simulator_pid: int) -> tuple[float, CpuUse, float, dict[str, int], int, int]:  # fmt: skip
    """Start devhost with the dispatcher alone; seconds until ``target`` rows are completed."""
    url = environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        done_before = completed(conn)
        child = env.spawn(name, devhost_argv("bench.outbound_app:app", 0, env.workdir), environ)
        wait_until(lambda: "Host started" in env.log_of(name), 60, "devhost", child)
        before, sim_before = cpu_sample([child.pid]), cpu_sample([simulator_pid]).server
        started = time.monotonic()
        while completed(conn) - done_before < target:
            if child.poll() is not None:
                raise RuntimeError(f"devhost exited:\n{env.log_of(name)[-3000:]}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(
                    f"not done within {timeout} s: {completed(conn) - done_before} of {target}"
                )
            time.sleep(0.02)
        seconds = time.monotonic() - started
        after, sim_after = cpu_sample([child.pid]), cpu_sample([simulator_pid]).server
        env.stop(child)
        outcomes: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM sync_queue GROUP BY 1").fetchall()
        )
        row = conn.execute("SELECT coalesce(sum(retry_count), 0) FROM sync_queue").fetchone()
        retries = int(row[0]) if row else 0
    log = env.log_of(name)
    invocations = log.count("Executed 'Functions.dispatch_ats_command'") + log.count(
        "Executed 'Functions.replay_sync_queue'"
    )
    return (
        seconds,
        CpuUse.between(before, after),
        (sim_after - sim_before) / seconds,
        outcomes,
        retries,
        invocations,
    )


def measure(env: Environment, args: argparse.Namespace, run: int) -> tuple[Figure, Figure]:
    url = env.database(f"outbound{run}")
    api_key = "bench-" + secrets.token_hex(8)
    port = _free_port()
    portal_url = f"http://127.0.0.1:{port}"
    simulator = env.spawn(
        f"simulator-{run}",
        [sys.executable, "-m", "portal_simulator", "serve", "--port", str(port), "--followups", "off",
         "--log-level", "warning", "--ats-url", "http://127.0.0.1:9/api/portal/webhooks"],
        {"PORTAL_API_KEY": api_key, "PORTAL_WEBHOOK_SECRETS": env.secret},
    )  # fmt: skip
    wait_until(port_open(port), 30, "the simulator", simulator)
    environ = {**env.app_environ(url), "PORTAL_BASE_URL": portal_url, "PORTAL_API_KEY": api_key}
    total = args.commands + args.drain_rows
    candidates = asyncio.run(seed_candidates(portal_url, url, total, f"{env.token}{run}"))
    first = Candidates(candidates.ats_ids[: args.commands], candidates.portal_ids[: args.commands])
    rest = Candidates(candidates.ats_ids[args.commands :], candidates.portal_ids[args.commands :])

    # 1. commands per second: bare POSTs, then the same number through the dispatcher
    sim_before = cpu_sample([simulator.pid]).server
    base_seconds = asyncio.run(bare_posts(portal_url, api_key, first.portal_ids, MAX_CONCURRENT_CALLS))
    base_sim = (cpu_sample([simulator.pid]).server - sim_before) / base_seconds
    asyncio.run(enqueue_commands(url, first.ats_ids))
    seconds, cpu, sim_cpu, outcomes, retries, invocations = run_dispatcher(
        env, environ, f"devhost-commands-{run}", args.commands, args.timeout, simulator.pid
    )
    commands = Figure("commands", args.commands, seconds, base_seconds, cpu, sim_cpu, base_sim, outcomes,
                      retries, invocations)  # fmt: skip

    # 2. draining after an outage: bare POSTs, then the replay of the same number of due rows
    sim_before = cpu_sample([simulator.pid]).server
    base_seconds = asyncio.run(bare_posts(portal_url, api_key, rest.portal_ids, REPLAY_CONCURRENCY))
    base_sim = (cpu_sample([simulator.pid]).server - sim_before) / base_seconds
    insert_due_rows(url, rest, args.drain_rows)
    seconds, cpu, sim_cpu, outcomes, retries, invocations = run_dispatcher(
        env, environ, f"devhost-drain-{run}", args.drain_rows, args.timeout, simulator.pid
    )
    drain = Figure("drain", args.drain_rows, seconds, base_seconds, cpu, sim_cpu, base_sim, outcomes,
                   retries - args.drain_rows, invocations)  # fmt: skip
    env.stop(simulator)
    return commands, drain


# --- report ---------------------------------------------------------------------------------


def report(kind: str, figures: list[Figure], aim: float | None) -> list[str]:
    ratios = [f.ratio for f in figures]
    f = sorted(figures, key=lambda x: x.ratio)[len(figures) // 2]
    if kind == "commands":
        title = (f"1. {f.count:,} interview requests on ats-outbound through sync_dispatcher under devhost "
                 f"(queue trigger, maxConcurrentCalls {MAX_CONCURRENT_CALLS})")  # fmt: skip
        label, base = "sync_dispatcher (queue part)", f"bare httpx POSTs x{MAX_CONCURRENT_CALLS}"
    else:
        title = (f"2. draining {f.count:,} due sync_queue rows after an outage with the replay timer "
                 f"(every second, {REPLAY_CONCURRENCY} calls in flight)")  # fmt: skip
        label, base = "sync_dispatcher (replay timer)", f"bare httpx POSTs x{REPLAY_CONCURRENCY}"
    lines = [
        title,
        "",
        f"   {'':<34}{'per s':>9}{'seconds':>9}{'vs bare':>9}   simulator CPU (cores)",
        f"   {base:<34}{f.baseline_rate:>9,.0f}{f.baseline_seconds:>9.2f}{'1.00x':>9}   "
        f"{f.baseline_simulator_cpu:.2f}",
        f"   {label:<34}{f.rate:>9,.0f}{f.seconds:>9.2f}{f.ratio:>8.2f}x   {f.simulator_cpu:.2f}",
        "",
        f"   rows: {', '.join(f'{n} {s}' for s, n in sorted(f.outcomes.items()))}; "
        f"extra attempts {f.retries}; {f.invocations} invocations",
        f"   CPU while the dispatcher ran (cores): devhost {f.cpu.server:.2f}, "
        f"simulator {f.simulator_cpu:.2f}, whole machine {f.cpu.machine:.2f} of {os.cpu_count()}; "
        f"devhost's CPU per command {f.cpu.server / f.rate * 1000:.1f} ms",
    ]  # fmt: skip
    if len(figures) > 1:
        lines.append(f"   {len(figures)} runs, ratios {', '.join(f'{r:.2f}x' for r in ratios)} "
                     f"(median {statistics.median(ratios):.2f}x, shown)")  # fmt: skip
    if aim is not None:
        ratio = statistics.median(ratios)
        lines.append(
            f"   aim >= {aim:.1f}x of bare POSTs: {'met' if ratio >= aim else 'missed'} ({ratio:.2f}x)"
        )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/outbound.py",
        description="Outbound benchmark: commands per second through sync_dispatcher, and draining due "
        "sync_queue rows, each beside bare POSTs to the same simulator in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer commands and one run (about 1 minute)")
    parser.add_argument("--commands", type=int, help="commands on ats-outbound (default 2000; quick 1000)")
    parser.add_argument("--drain-rows", type=int, help="due rows to drain (default 5000; quick 2000)")
    parser.add_argument("--runs", type=int, help="repetitions, the median ratio shown (default 3; quick 1)")
    parser.add_argument("--timeout", type=float, default=300, help="give up a measurement after this (s)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs (for inspection)")
    args = parser.parse_args(argv)
    args.commands = args.commands or (1000 if args.quick else 2000)
    args.drain_rows = args.drain_rows or (2000 if args.quick else 5000)
    args.runs = args.runs or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(f"outbound benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}", flush=True)  # fmt: skip
    env = Environment(args.postgres_url, args.redis_url)
    try:
        runs = [measure(env, args, n) for n in range(args.runs)]
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        env.cleanup(keep=True)
        return 1
    env.cleanup(args.keep)
    print("")
    print("\n".join(report("commands", [c for c, _ in runs], aim=0.7)))
    print("")
    print("\n".join(report("drain", [d for _, d in runs], aim=None)))
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
