"""Ingest benchmark: webhook acknowledgements and backlog draining, each beside a baseline.

    python bench/ingest.py            # full run (< 10 minutes on a 2-core machine)
    python bench/ingest.py --quick    # < 2 minutes
    python bench/ingest.py --help

1. Acknowledgements: 50 concurrent keep-alive senders post pre-signed, valid, varied webhooks
   (unique event ids) to (a) the real app under devhost with only the webhook_receiver
   blueprint registered (nothing consumes ``portal-events``: the processor is paused), (b) a
   hand-written Starlette endpoint on uvicorn doing the same minimum work
   (``bench/same_work.py``) and (c) a bare endpoint that only answers 202 (``bench/bare.py``).
   Each figure is printed beside (b) as a ratio.
2. Draining: a backlog of queued events (profiles, screenings, assessments of candidates the
   ATS already holds; no documents) is drained by the real event processor under devhost (its
   Service Bus trigger on the PostgreSQL queues, with host.json's batch settings), beside a loop
   of single-row ``INSERT ... ON CONFLICT DO NOTHING`` transactions of the same events.

Everything runs on this machine against PostgreSQL and Redis (``TEST_POSTGRES_URL``,
``TEST_REDIS_URL`` or the usual local ports): the benchmark creates its own databases (migrated
with ``shared.migrate``) and Redis key prefix, and removes them at the end. Figures, not
pass/fail: the output says, from CPU accounting taken during the run, what bounds each one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench import events as bench_events  # noqa: E402
from bench.loadgen import LoadResult, LoadSpec, run_load  # noqa: E402

PATH = "/api/portal/webhooks"
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU accounting -------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _comm_cpu(names: tuple[str, ...]) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith(names):
            total += _proc_cpu(int(entry.name))
    return total


def _machine() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


@dataclass
class CpuSample:
    at: float
    server: float
    postgres: float
    redis: float
    busy: float
    total: float


def cpu_sample(server_pids: list[int]) -> CpuSample:
    busy, total = _machine()
    return CpuSample(
        time.monotonic(),
        sum(_proc_cpu(p) + _children_cpu(p) for p in server_pids),
        _comm_cpu(("postgres",)),
        _comm_cpu(("redis-server", "valkey")),
        busy,
        total,
    )


def _children_cpu(pid: int) -> float:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return sum(_proc_cpu(int(c)) for c in children)


@dataclass
class CpuUse:
    """Cores used on average over a window (1.0 = one core fully busy)."""

    server: float
    postgres: float
    redis: float
    machine: float

    @classmethod
    def between(cls, a: CpuSample, b: CpuSample) -> CpuUse:
        wall = max(b.at - a.at, 1e-9)
        cores = os.cpu_count() or 1
        return cls(
            (b.server - a.server) / wall,
            (b.postgres - a.postgres) / wall,
            (b.redis - a.redis) / wall,
            (b.busy - a.busy) / max(b.total - a.total, 1e-9) * cores,
        )

    def describe(self) -> str:
        others = max(0.0, self.machine - self.server - self.postgres - self.redis)
        return (
            f"server {self.server:.2f}, postgres {self.postgres:.2f}, redis {self.redis:.2f}, "
            f"everything else {others:.2f} (the generator, other processes); "
            f"machine {self.machine:.2f} of {os.cpu_count()} cores"
        )


# --- services -------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Environment:
    admin_url: str
    redis_url: str
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    databases: list[str] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-ingest-")))
    secret: str = field(default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())

    @property
    def redis_prefix(self) -> str:
        return f"bench:{self.token}:"

    def database(self, purpose: str, *, migrate: bool = True) -> str:
        from shared.migrate import apply_migrations

        name = f"bench_{self.token}_{purpose}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        url = _with_database(self.admin_url, name)
        if migrate:
            apply_migrations(url)
        return url

    def app_environ(self, database_url: str) -> dict[str, str]:
        return {
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": self.redis_prefix,
            "AzureWebJobsStorage": AZURITE,
            "DocumentsStorage": AZURITE,
            "ServiceBusConnection": database_url,
            "PORTAL_BASE_URL": "http://127.0.0.1:9",
            "PORTAL_API_KEY": "bench-" + secrets.token_hex(8),
            "PORTAL_WEBHOOK_SECRETS": self.secret,
            "SYNC_REPLAY_SCHEDULE": "* * * * * *",
        }

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        child = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.children.append(child)
        return child

    def log_of(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, child: subprocess.Popen[bytes], timeout: float = 30) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child in self.children:
            self.children.remove(child)

    def cleanup(self, keep: bool) -> None:
        for child in list(self.children):
            self.stop(child, timeout=10)
        if keep:
            print(f"kept: databases {', '.join(self.databases)}; logs in {self.workdir}")
            return
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()
        for path in self.workdir.iterdir():
            path.unlink()
        self.workdir.rmdir()


def wait_until(check: Callable[[], bool], timeout: float, what: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if child.poll() is not None:
            raise RuntimeError(f"{what} exited with status {child.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {timeout} s")
        time.sleep(0.05)


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    return check


def devhost_argv(app: str, port: int, workdir: Path) -> list[str]:
    return [
        sys.executable, "-m", "devhost", "start", "--app", app, "--script-root", str(ROOT),
        "--settings-file", str(workdir / "no-local-settings.json"), "--port", str(port),
        "--poll-interval", "0.2", "--shutdown-grace", "10",
    ]  # fmt: skip


# --- profiling (optional: py-spy) -----------------------------------------------------------


def attach_profiler(
    env: Environment, args: argparse.Namespace, name: str, pid: int
) -> subprocess.Popen[bytes] | None:
    """``--profile DIR``: sample ``pid`` with py-spy until it exits (raw collapsed stacks)."""
    if not args.profile:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        raise SystemExit("--profile needs py-spy in the virtual environment: .venv/bin/pip install py-spy")
    args.profile.mkdir(parents=True, exist_ok=True)
    argv = [str(py_spy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--nonblocking",
            "--output", str(args.profile / f"{name}.txt")]  # fmt: skip
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return child


def profile_summary(path: Path, top: int = 12) -> list[str]:
    """The functions holding most samples (own time), from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frame = stack.rsplit(";", 1)[-1]
        own[frame] = own.get(frame, 0) + int(count)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:top]
    return [f"      {n / max(total, 1) * 100:5.1f}%  {frame}" for frame, n in ranked]


def finish_profiler(profiler: subprocess.Popen[bytes] | None, args: argparse.Namespace, name: str) -> None:
    if profiler is None:
        return
    try:
        profiler.wait(30)
    except subprocess.TimeoutExpired:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(10)
    path = args.profile / f"{name}.txt"
    if path.exists():
        print(f"   profile of {name}: {path} (own time, top frames)")
        print("\n".join(profile_summary(path)), flush=True)


# --- 1. acknowledgements --------------------------------------------------------------------


@dataclass
class AckFigure:
    name: str
    load: LoadResult
    cpu: CpuUse


def measure_ack(
    env: Environment, args: argparse.Namespace, name: str, port: int, pid: int, reuse: bool
) -> AckFigure:
    per_worker = (
        1_000 if reuse else int(args.max_rate * (args.warmup + args.duration) / args.generator_processes) + 1
    )
    spec = LoadSpec(
        host="127.0.0.1",
        port=port,
        connections=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        requests_per_worker=per_worker,
        factory="bench.events:signed_requests",
        factory_args={"secret": env.secret, "host": f"127.0.0.1:{port}", "path": PATH},
        reuse=reuse,
    )
    samples: list[CpuSample] = []
    load = run_load(spec, args.generator_processes, on_window=lambda: samples.append(cpu_sample([pid])))
    return AckFigure(name, load, CpuUse.between(samples[0], samples[1]))


@dataclass
class AckTarget:
    name: str
    port: int
    child: subprocess.Popen[bytes]
    reuse: bool
    count_sql: str | None = None
    database: str | None = None
    rounds: list[AckFigure] = field(default_factory=list)
    accepted_rows: int = 0

    @property
    def median(self) -> AckFigure:
        return sorted(self.rounds, key=lambda f: f.load.rate)[len(self.rounds) // 2]


def start_ack_targets(env: Environment) -> list[AckTarget]:
    """(a) the app under devhost (receiver only), (b) same-work on uvicorn, (c) bare."""
    app_db = env.database("ack_app")
    port = _free_port()
    app = env.spawn(
        "devhost-receiver", devhost_argv("bench.receiver_app:app", port, env.workdir), env.app_environ(app_db)
    )
    wait_until(port_open(port), 60, "devhost", app)
    targets = [
        AckTarget(
            "app under devhost", port, app, False,
            "SELECT count(*) FROM devhost.messages WHERE queue = 'portal-events'", app_db,
        )
    ]  # fmt: skip
    same_db = env.database("ack_same", migrate=False)
    port = _free_port()
    same = env.spawn(
        "uvicorn-same-work",
        [
            sys.executable, "-m", "uvicorn", "bench.same_work:app",
            "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--no-access-log", "--log-level", "warning", "--backlog", "1024",
        ],
        {
            "BENCH_SECRET": env.secret,
            "BENCH_DATABASE_URL": same_db,
            "BENCH_REDIS_URL": env.redis_url,
            "BENCH_REDIS_PREFIX": env.redis_prefix,
        },
    )  # fmt: skip
    wait_until(port_open(port), 60, "uvicorn", same)
    targets.append(
        AckTarget(
            "same-work Starlette/uvicorn", port, same, False, "SELECT count(*) FROM bench_inbox", same_db
        )
    )
    port = _free_port()
    bare = env.spawn("bare", [sys.executable, str(ROOT / "bench" / "bare.py"), str(port)], {})
    wait_until(port_open(port), 30, "bare endpoint", bare)
    targets.append(AckTarget("bare 202", port, bare, True))
    return targets


def run_ack(env: Environment, args: argparse.Namespace) -> list[AckTarget]:
    """Every target in turn, ``--ack-rounds`` times (a neighbour's load hits all three alike)."""
    targets = start_ack_targets(env)
    profiler = attach_profiler(env, args, "devhost-receiver", targets[0].child.pid)
    for round_ in range(args.ack_rounds):
        for target in targets:
            figure = measure_ack(env, args, target.name, target.port, target.child.pid, reuse=target.reuse)
            target.rounds.append(figure)
            print(f"   round {round_ + 1}: {target.name}: {figure.load.rate:,.0f} acks/s", flush=True)
    for target in targets:
        env.stop(target.child)
        if target.count_sql and target.database:
            with psycopg.connect(target.database) as conn:
                row = conn.execute(target.count_sql).fetchone()
                target.accepted_rows = int(row[0]) if row else 0
    finish_profiler(profiler, args, "devhost-receiver")
    return targets


# --- 2. draining a backlog ------------------------------------------------------------------


@dataclass
class DrainFigure:
    events: int
    baseline_seconds: float
    drain_seconds: float
    cpu: CpuUse
    baseline_cpu: CpuUse
    outcomes: dict[str, int]
    dead_letters: int
    batches: int

    @property
    def baseline_rate(self) -> float:
        return self.events / self.baseline_seconds

    @property
    def rate(self) -> float:
        return self.events / self.drain_seconds


def _backlog(env: Environment, args: argparse.Namespace) -> tuple[list[str], list[dict[str, Any]]]:
    cids = bench_events.candidate_ids(args.candidates, env.token)
    backlog = [bench_events.varied_event(i, cids[i % len(cids)]) for i in range(args.backlog)]
    return cids, backlog


async def _seed(environ: dict[str, str], cids: list[str], backlog: list[dict[str, Any]]) -> None:
    """Known candidates (through the processor itself), then the backlog on ``portal-events``."""
    from shared.inbound.receiver import EVENT_TYPE, RECEIVED_AT, SOURCE
    from shared.messaging import PORTAL_EVENTS, OutboundMessage
    from shared.messaging.pg_queue import PgQueueSender
    from shared.queued import QueuedMessage
    from shared.runtime import Runtime

    runtime = await Runtime.from_environ(environ)
    try:
        for start in range(0, len(cids), 100):
            batch = [bench_events.created_event(cid) for cid in cids[start : start + 100]]
            report = await runtime.processor.process(
                [QueuedMessage(body=json.dumps(e).encode(), message_id=e["id"]) for e in batch]
            )
            assert report.processed == len(batch), report
    finally:
        await runtime.close()
    sender = PgQueueSender(environ["ServiceBusConnection"])
    try:
        for start in range(0, len(backlog), 500):
            now = datetime.now(UTC).isoformat()
            messages = [
                OutboundMessage(
                    body=json.dumps(e).encode(),
                    message_id=e["id"],
                    application_properties={RECEIVED_AT: now, EVENT_TYPE: e["type"], SOURCE: "webhook"},
                )
                for e in backlog[start : start + 500]
            ]
            stored = await sender.store(PORTAL_EVENTS, messages)
            assert stored == len(messages)
    finally:
        await sender.close()


def single_row_baseline(url: str, backlog: list[dict[str, Any]]) -> tuple[float, CpuUse]:
    """One autocommit transaction per event: ``INSERT ... ON CONFLICT DO NOTHING``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE bench_single_insert (event_id text PRIMARY KEY, event_type text NOT NULL, "
            "payload jsonb NOT NULL, received_at timestamptz NOT NULL)"
        )
        rows = [(e["id"], e["type"], json.dumps(e), datetime.now(UTC)) for e in backlog]
        sql = (
            "INSERT INTO bench_single_insert (event_id, event_type, payload, received_at) "
            "VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING"
        )
        before = cpu_sample([os.getpid()])
        started = time.perf_counter()
        for row in rows:
            conn.execute(sql, row, prepare=True)
        seconds = time.perf_counter() - started
        after = cpu_sample([os.getpid()])
    return seconds, CpuUse.between(before, after)


def run_drain(env: Environment, args: argparse.Namespace, run: int) -> DrainFigure:
    url = env.database(f"drain{run}")
    environ = env.app_environ(url)
    cids, backlog = _backlog(env, args)
    asyncio.run(_seed(environ, cids, backlog))
    baseline_seconds, baseline_cpu = single_row_baseline(url, backlog)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM ANALYZE")
        child = env.spawn(
            "devhost-processor", devhost_argv("bench.processor_app:app", 0, env.workdir), environ
        )
        wait_until(lambda: "Host started" in env.log_of("devhost-processor"), 60, "devhost", child)
        profiler = attach_profiler(env, args, f"devhost-processor-{run}", child.pid)
        before = cpu_sample([child.pid])
        started = time.monotonic()
        remaining = len(backlog)
        while remaining:
            if child.poll() is not None:
                raise RuntimeError(
                    "devhost exited while draining:\n" + env.log_of("devhost-processor")[-3000:]
                )
            if time.monotonic() - started > args.drain_timeout:
                raise RuntimeError(
                    f"the backlog was not drained within {args.drain_timeout} s ({remaining} left)"
                )
            time.sleep(0.02)
            row = conn.execute(
                "SELECT count(*) FROM devhost.messages WHERE queue = 'portal-events'"
            ).fetchone()
            remaining = int(row[0]) if row else 0
        seconds = time.monotonic() - started
        after = cpu_sample([child.pid])
        env.stop(child)
        finish_profiler(profiler, args, f"devhost-processor-{run}")
        outcomes: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM webhook_events GROUP BY status").fetchall()
        )
        row = conn.execute(
            "SELECT count(*) FROM devhost.messages WHERE queue = 'portal-events/$deadletterqueue'"
        ).fetchone()
        dead = int(row[0]) if row else 0
    batches = env.log_of("devhost-processor").count("Executed 'Functions.process_portal_events' (Succeeded")
    outcomes["processed"] = outcomes.get("processed", 0) - len(cids)  # the seeded candidate.created events
    return DrainFigure(len(backlog), baseline_seconds, seconds, CpuUse.between(before, after), baseline_cpu,
                       outcomes, dead, batches)  # fmt: skip


# --- report ---------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


ACK_BOUND = (
    "   what bounds the app (py-spy profile, docs/benchmarks.md): its one event loop, busy {cpu:.2f} cores;\n"
    "   per delivery: the confirmed queue send (one autocommit INSERT + NOTIFY round trip, about half of\n"
    "   the handler's time), the Redis fast path, the contract's full pydantic validation, devhost's HTTP\n"
    "   parsing and one log line per invocation, and azure.functions request/response objects."
)


def report_ack(targets: list[AckTarget], args: argparse.Namespace) -> list[str]:
    per_round = [a.load.rate / s.load.rate for a, s in zip(targets[0].rounds, targets[1].rounds, strict=True)]
    ratio = statistics.median(per_round)
    median_round = sorted(range(len(per_round)), key=lambda i: per_round[i])[len(per_round) // 2]
    app, same, bare = (t.rounds[median_round] for t in targets)
    window = args.warmup + args.duration
    rounds = len(per_round)
    lines = [
        f"1. Acknowledgements: {args.concurrency} concurrent keep-alive senders, "
        f"{args.duration:g} s measured "
        f"after {args.warmup:g} s warm-up, processor paused;",
        f"   {rounds} interleaved round(s), figures of the round with the median app / same-work ratio",
        "",
        f"   {'target':<30}{'acks/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs same-work':>14}  server CPU (cores)",
    ]
    for f in (app, same, bare):
        other = ", ".join(f"{code}: {n}" for code, n in sorted(f.load.statuses.items()) if code != 202)
        lines.append(
            f"   {f.name:<30}{f.load.rate:>10,.0f}{f.load.p50_ms:>9.1f}{f.load.p99_ms:>9.1f}"
            f"{_ratio(f.load.rate, same.load.rate):>14}  {f.cpu.server:.2f}"
            + (f"   non-202: {other}" if other else "")
            + (f"   connection errors: {f.load.errors}" if f.load.errors else "")
            + ("   (request pool exhausted: raise --max-rate)" if f.load.exhausted else "")
        )
    lines += [
        "",
        f"   app / same-work per round: {', '.join(f'{r:.2f}x' for r in per_round)} (median {ratio:.2f}x); "
        f"p99 latency app / same-work {_ratio(app.load.p99_ms, same.load.p99_ms)}",
        f"   queued by the app: {targets[0].accepted_rows} messages on portal-events (all rounds, warm-ups "
        f"included); same-work inserted {targets[1].accepted_rows} rows",
        f"   generator: {args.generator_processes} process(es); against the bare endpoint it drove "
        f"{bare.load.rate:,.0f} req/s using {bare.load.generator_cpu_seconds / window:.2f} cores "
        f"(bare server {bare.cpu.server:.2f}): about {bare.load.rate / max(same.load.rate, 1):.0f}x what "
        f"the endpoints need; against the app it used {app.load.generator_cpu_seconds / window:.2f} cores",
        f"   CPU during the app's window: {app.cpu.describe()}",
        f"   CPU during same-work's window: {same.cpu.describe()}",
        f"   aim >= 0.8x of same-work: {'met' if ratio >= 0.8 else 'missed'} ({ratio:.2f}x)",
        ACK_BOUND.format(cpu=app.cpu.server),
    ]
    return lines


DRAIN_BOUND = (
    "   what bounds it (py-spy profile, docs/benchmarks.md): devhost runs one batch at a time\n"
    "   (cardinality many), {per_batch:.0f} ms per batch, Python ({cpu:.2f} cores) and PostgreSQL\n"
    "   ({pg:.2f}) taking turns; of the Python time about a third is decoding and validating\n"
    "   the events with the contract's models, a third the batch's statements (now one set-based\n"
    "   statement per kind) and a third devhost's receive/complete and the Redis marks."
)


def report_drain(f: DrainFigure) -> list[str]:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(f.outcomes.items()))
    lines = [
        f"2. Draining a backlog of {f.events:,} queued events (profiles, screenings, assessments of known "
        "candidates) with the event processor under devhost (its queue trigger, host.json batches)",
        "",
        f"   {'':<44}{'events/s':>10}{'seconds':>9}{'vs baseline':>13}",
        f"   {'single-row INSERT ... ON CONFLICT loop':<44}"
        f"{f.baseline_rate:>10,.0f}{f.baseline_seconds:>9.2f}"
        f"{'1.00x':>13}",
        f"   {'event processor under devhost':<44}{f.rate:>10,.0f}{f.drain_seconds:>9.2f}"
        f"{_ratio(f.rate, f.baseline_rate):>13}",
        "",
        f"   outcomes: {outcomes}; dead letters {f.dead_letters}; {f.batches} batch invocations "
        f"({f.events / max(f.batches, 1):.0f} events each on average)",
        f"   CPU while draining: {f.cpu.describe()}",
        f"   CPU during the baseline loop: {f.baseline_cpu.describe()} (server = this process)",
    ]
    ratio = f.rate / f.baseline_rate
    lines += [
        f"   aim >= 1.0x of the single-row loop: {'met' if ratio >= 1.0 else 'missed'} ({ratio:.2f}x)",
        DRAIN_BOUND.format(
            cpu=f.cpu.server, pg=f.cpu.postgres, per_batch=f.drain_seconds / max(f.batches, 1) * 1000
        ),
    ]
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/ingest.py",
        description="Ingest benchmark: acknowledgements per second and backlog draining, each with a "
        "baseline measured in the same run (figures, not pass/fail).",
    )
    parser.add_argument("--quick", action="store_true", help="short windows (about 1.5 minutes in all)")
    parser.add_argument("--only", choices=("ack", "drain"), help="run one of the two benchmarks")
    parser.add_argument(
        "--duration", type=float, help="measured seconds per target and round (default 10; quick 5)"
    )
    parser.add_argument(
        "--warmup", type=float, help="warm-up seconds per target and round (default 2; quick 1)"
    )
    parser.add_argument(
        "--ack-rounds",
        type=int,
        help="interleaved rounds of the three targets, median shown (default 3; quick 1)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent senders (default 50)")
    parser.add_argument(
        "--generator-processes", type=int, default=1, help="load generator processes (default 1)"
    )
    parser.add_argument("--max-rate", type=float, default=4000,
                        help="requests pre-signed per second of run for the app and same-work targets "
                        "(default 4000; each needs a unique event id)")  # fmt: skip
    parser.add_argument("--backlog", type=int, default=10_000, help="queued events to drain (default 10000)")
    parser.add_argument("--candidates", type=int, default=2_000, help="known candidates (default 2000)")
    parser.add_argument(
        "--drain-runs", type=int, help="drain repetitions, median reported (default 3; quick 1)"
    )
    parser.add_argument("--drain-timeout", type=float, default=300, help="give up draining after this (s)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the devhost processes with py-spy (pip install py-spy) into DIR",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs (for inspection)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.drain_runs = args.drain_runs or (1 if args.quick else 3)
    args.ack_rounds = args.ack_rounds or (1 if args.quick else 3)
    return args


@contextmanager
def environment(args: argparse.Namespace) -> Iterator[Environment]:
    env = Environment(args.postgres_url, args.redis_url)
    try:
        yield env
    finally:
        env.cleanup(args.keep)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(f"ingest benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}", flush=True)  # fmt: skip
    with environment(args) as env:
        if args.only in (None, "ack"):
            print("", flush=True)
            print("\n".join(report_ack(run_ack(env, args), args)), flush=True)
        if args.only in (None, "drain"):
            runs = []
            for n in range(args.drain_runs):
                runs.append(run_drain(env, args, n))
            figure = sorted(runs, key=lambda r: r.rate / r.baseline_rate)[len(runs) // 2]  # median ratio
            print("", flush=True)
            print("\n".join(report_drain(figure)), flush=True)
            if len(runs) > 1:
                rates = ", ".join(f"{r.rate:,.0f}" for r in runs)
                baselines = ", ".join(f"{r.baseline_rate:,.0f}" for r in runs)
                ratios = [r.rate / r.baseline_rate for r in runs]
                print(
                    f"   {len(runs)} runs (the one with the median ratio shown): processor {rates} events/s; "
                    f"baseline {baselines} rows/s; ratios {', '.join(f'{r:.2f}x' for r in ratios)} "
                    f"(median {statistics.median(ratios):.2f}x)"
                )
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
