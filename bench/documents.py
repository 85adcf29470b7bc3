"""Document transfer benchmark: a 100 MB document portal → Blob Storage through the function's
core, beside a direct download-then-upload of the same file with the SDKs, in the same run.

    python bench/documents.py                 # 100 MB, 3 rounds (about 1-2 minutes here)
    python bench/documents.py --size-mb 20 --rounds 1
    python bench/documents.py --help

Both paths fetch the same document from the portal simulator (its own process, so only our side
is measured) and write it to Azurite (its own process):

* **function**: ``DocumentTransfer.handle`` on a ``document-transfers`` message, the code the
  ``transfer_document`` function runs: the download streamed through the pinned transport, the
  breaker and the API key, 4 MiB blocks staged two at a time while the next one fills, sha256 and
  MD5 computed on the way, the block list committed with its headers and metadata, the row
  marked ``transferred`` with the verification message in the outbox, the outbox flushed;
* **direct**: ``httpx`` GET of the whole body into memory, then ``BlobClient.upload_blob`` with
  the SDK's defaults (no hash check, no bookkeeping): what a naive implementation does.

Memory is measured first, in one transfer of each path (the function's is the first transfer of
the process, so its figure includes every one-time cost): the peak of Python allocations
(tracemalloc) and the growth of the process's peak RSS over its RSS before (``VmHWM``, reset
through ``/proc/self/clear_refs``). Throughput (MB/s, MB = 10^6 bytes) is then the median of
``--rounds`` rounds without tracemalloc, the two paths alternating. Figures, not pass/fail.

PostgreSQL and Redis come from ``TEST_POSTGRES_URL`` / ``TEST_REDIS_URL`` (or the usual local
ports), Azurite from ``TEST_AZURITE_BLOB_PORT`` (10000): ``make services-test`` provides them. The
benchmark creates its own database, Redis prefix and container and removes them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from portal_simulator.admin_client import AdminClient  # noqa: E402
from shared.queued import QueuedMessage  # noqa: E402
from shared.runtime import Runtime  # noqa: E402

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BLOB_PORT = int(os.environ.get("TEST_AZURITE_BLOB_PORT", "10000"))
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    f"BlobEndpoint=http://127.0.0.1:{BLOB_PORT}/devstoreaccount1;"
)
API_KEY = "bench-api-key-" + secrets.token_hex(6)
SECRET = "whsec_YmVuY2gtZG9jdW1lbnRzLXdlYmhvb2stc2VjcmV0LWtleQ=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def database() -> Iterator[str]:
    from shared.migrate import apply_migrations

    name = f"bench_docs_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(POSTGRES, name)
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def simulator() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "portal_simulator", "serve", "--port", str(port),
            "--api-key", API_KEY, "--webhook-secrets", SECRET, "--log-level", "warning",
            "--ats-url", "http://127.0.0.1:9/api/portal/webhooks",
        ],
        cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/admin/settings", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("the portal simulator did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- memory -----------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Measure:
    seconds: float
    traced_peak: int | None = None
    rss_growth: int | None = None


async def measure(work: Callable[[], Awaitable[None]], *, memory: bool) -> Measure:
    if not memory:
        started = time.perf_counter()
        await work()
        return Measure(time.perf_counter() - started)
    rss_before = _status_kib("VmRSS")
    resettable = _reset_peak_rss()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        await work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    growth = (_status_kib("VmHWM") - rss_before) * 1024 if resettable else None
    return Measure(seconds, peak, growth)


# --- the two paths ----------------------------------------------------------------------------


class Bench:
    def __init__(self, runtime: Runtime, document: dict[str, object], container: str) -> None:
        self.runtime = runtime
        self.document = document
        self.container = container
        self._row: str | None = None

    async def prepare_row(self) -> QueuedMessage:
        """A pending ``candidate_documents`` row for the document (fresh each round) and its
        transfer message, as the event processor leaves them."""
        doc = self.document
        async with self.runtime.db.connection() as conn:
            candidate = await (
                await conn.execute(
                    "INSERT INTO candidates (portal_candidate_id) VALUES (%s) "
                    "ON CONFLICT (portal_candidate_id) DO UPDATE SET updated_at = now() RETURNING id",
                    (doc["candidate_id"],),
                )
            ).fetchone()
            assert candidate is not None
            await conn.execute("DELETE FROM candidate_documents WHERE portal_document_id = %s", (doc["id"],))
            row = await (
                await conn.execute(
                    "INSERT INTO candidate_documents (candidate_id, portal_document_id, kind, file_name, "
                    "content_type, size_bytes, sha256, download_url) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "RETURNING id::text",
                    (
                        candidate[0], doc["id"], doc["kind"], doc["file_name"], doc["content_type"],
                        doc["size_bytes"], doc["sha256"], doc["download_url"],
                    ),
                )
            ).fetchone()  # fmt: skip
            await conn.commit()
        assert row is not None
        container = self.runtime.blobs.get_container_client(self.container)
        async for blob in container.list_blobs():
            await container.delete_blob(blob.name)
        body = {"document_id": row[0], "portal_document_id": doc["id"], "sha256": doc["sha256"]}
        return QueuedMessage(body=json.dumps(body).encode(), message_id=f"transfer:bench:{uuid.uuid4()}")

    async def function(self, memory: bool) -> Measure:
        message = await self.prepare_row()

        async def work() -> None:
            outcome = await self.runtime.document_transfer.handle(message)
            assert type(outcome).__name__ == "Processed", outcome

        return await measure(work, memory=memory)

    async def direct(self, memory: bool) -> Measure:
        blob = self.runtime.blobs.get_blob_client(self.container, "direct/" + str(self.document["sha256"]))

        async def work() -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                response = await client.get(
                    str(self.document["download_url"]), headers={"Authorization": f"Bearer {API_KEY}"}
                )
                response.raise_for_status()
                data = response.content
            await blob.upload_blob(data, overwrite=True)

        return await measure(work, memory=memory)


def mb_per_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f} MiB"


async def run(args: argparse.Namespace) -> None:
    size = args.size_mb * 1000 * 1000
    with database() as db_url, simulator() as portal_url:
        admin = AdminClient(portal_url)
        (item,) = admin.generate_events(
            "document.uploaded",
            deliver=False,
            document={"content_type": "application/pdf", "size_bytes": size, "kind": "resume"},
        )
        document = item["event"]["data"]["document"]
        container = f"bench-docs-{secrets.token_hex(4)}"
        environ = {
            "DATABASE_URL": db_url,
            "REDIS_URL": REDIS,
            "REDIS_KEY_PREFIX": f"bench:{secrets.token_hex(4)}:",
            "DocumentsStorage": AZURITE,
            "DOCUMENTS_CONTAINER": container,
            "ServiceBusConnection": db_url,
            "PORTAL_BASE_URL": portal_url,
            "PORTAL_API_KEY": API_KEY,
            "PORTAL_WEBHOOK_SECRETS": SECRET,
            "SYNC_REPLAY_SCHEDULE": "* * * * * *",
            "DOCUMENT_MAX_BYTES": str(size + 1),
        }
        runtime = await Runtime.from_environ(environ)
        try:
            await runtime.document_blobs.ensure_container()
            bench = Bench(runtime, document, container)
            # Memory first: the function's transfer is the first one in this process, so its
            # growth includes every one-time cost, and no freed 100 MB of the direct path hides it.
            fm = await bench.function(memory=True)
            dm = await bench.direct(memory=True)
            function_runs: list[float] = []
            direct_runs: list[float] = []
            for number in range(1, args.rounds + 1):
                f = await bench.function(memory=False)
                d = await bench.direct(memory=False)
                function_runs.append(mb_per_s(size, f.seconds))
                direct_runs.append(mb_per_s(size, d.seconds))
                ratio = function_runs[-1] / direct_runs[-1]
                print(
                    f"round {number}: function {function_runs[-1]:.1f} MB/s, "
                    f"direct {direct_runs[-1]:.1f} MB/s, ratio {ratio:.2f}x",
                    flush=True,
                )
        finally:
            await runtime.blobs.delete_container(container)
            keys = [k async for k in runtime.redis.scan_iter(match=environ["REDIS_KEY_PREFIX"] + "*")]
            if keys:
                await runtime.redis.delete(*keys)
            await runtime.close()
    function_mbs, direct_mbs = statistics.median(function_runs), statistics.median(direct_runs)
    ratios = [f / d for f, d in zip(function_runs, direct_runs, strict=True)]
    print()
    print(f"{args.size_mb} MB PDF, portal simulator -> Azurite, {args.rounds} rounds (median)")
    for label, mbs, memory in (
        ("function (DocumentTransfer.handle)", function_mbs, fm),
        ("direct (GET whole, upload_blob)", direct_mbs, dm),
    ):
        print(
            f"  {label:<36} {mbs:7.1f} MB/s   peak Python {mib(memory.traced_peak)}, "
            f"RSS growth {mib(memory.rss_growth)}"
        )
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"  ratio function/direct: {statistics.median(ratios):.2f}x (rounds: {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-mb", type=int, default=100, help="document size in MB (10^6 bytes; default 100)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each path (default 3)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
