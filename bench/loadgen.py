"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, one request in flight each.

Every request is built and signed before the clock starts (the Standard Webhooks timestamp
stays valid for 300 s, far longer than a run), so the generator only writes pre-made bytes and
parses status lines while it measures. Each connection is an ``asyncio.Protocol`` that sends its
next request from ``data_received`` itself: no coroutine, no task, no parser library per
request. Several worker processes can share the connections when one process is not enough;
they are started with ``spawn`` and begin at one agreed monotonic instant.

Latency is measured per request from the write to the last byte of the answer, in the window
after the warm-up only. The same generator drives every target of the benchmark.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RequestFactory = Callable[[int, int], list[bytes]]  # (worker index, count) -> raw requests


@dataclass
class LoadSpec:
    host: str
    port: int
    connections: int
    warmup: float
    duration: float
    requests_per_worker: int
    factory: str  # "module:function" building the raw requests, importable in a fresh process
    factory_args: dict[str, Any] = field(default_factory=dict)
    reuse: bool = False  # cycle through the pre-made requests (only for targets that keep nothing)


@dataclass
class WorkerResult:
    statuses: Counter[int]
    latencies_ns: array  # type: ignore[type-arg]
    errors: int
    exhausted: bool
    cpu_seconds: float
    prepare_seconds: float


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: Counter[int]
    p50_ms: float
    p99_ms: float
    errors: int
    exhausted: bool
    generator_cpu_seconds: float
    prepare_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class _Run:
    def __init__(self, requests: list[bytes], reuse: bool, measure_from: float, stop_at: float) -> None:
        self.requests = requests
        self.reuse = reuse
        self.next = 0
        self.measure_from = measure_from
        self.stop_at = stop_at
        self.statuses: Counter[int] = Counter()
        self.latencies = array("q")
        self.errors = 0
        self.exhausted = False
        self.open = 0
        self.finished = asyncio.get_running_loop().create_future()

    def take(self) -> bytes | None:
        if self.next >= len(self.requests):
            if not self.reuse:
                self.exhausted = True
                return None
            self.next = 0
        request = self.requests[self.next]
        self.next += 1
        return request

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.need = -1
        self.status = 0
        self.sent_ns = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.run.stop_at:
            self.transport.close()
            return
        request = self.run.take()
        if request is None:
            self.transport.close()
            return
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            if self.need < 0:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buffer[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"content-length:")
                length = 0
                if at >= 0:
                    stop = head.find(b"\r\n", at)
                    length = int(head[at + 15 : stop if stop >= 0 else len(head)])
                self.need = end + 4 + length
            if len(buffer) < self.need:
                return
            del buffer[: self.need]
            self.need = -1
            done_ns = time.perf_counter_ns()
            run = self.run
            if run.measure_from <= time.monotonic() < run.stop_at:
                run.statuses[self.status] += 1
                run.latencies.append(done_ns - self.sent_ns)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if (
            exc is not None
            or self.need >= 0
            or (time.monotonic() < self.run.stop_at and not self.run.exhausted)
        ):
            self.run.errors += 1
        self.run.closed()


def _load_factory(name: str) -> Callable[..., list[bytes]]:
    import importlib

    module, _, attr = name.partition(":")
    function: Callable[..., list[bytes]] = getattr(importlib.import_module(module), attr)
    return function


async def _drive(spec: LoadSpec, share: int, requests: list[bytes], start_at: float) -> WorkerResult:
    loop = asyncio.get_running_loop()
    run = _Run(requests, spec.reuse, start_at + spec.warmup, start_at + spec.warmup + spec.duration)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    cpu0 = time.process_time()
    run.open = share
    for _ in range(share):
        try:
            await loop.create_connection(lambda: _Connection(run), spec.host, spec.port)
        except OSError:
            run.errors += 1
            run.closed()
    await asyncio.wait_for(run.finished, spec.warmup + spec.duration + 60)
    return WorkerResult(
        run.statuses, run.latencies, run.errors, run.exhausted, time.process_time() - cpu0, 0.0
    )


def _worker(spec: LoadSpec, index: int, share: int, ready: Any, go: Any, start_at: Any, out: Any) -> None:
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    began = time.monotonic()
    requests = _load_factory(spec.factory)(index, spec.requests_per_worker, **spec.factory_args)
    prepared = time.monotonic() - began
    ready.put(index)
    go.wait()
    result = asyncio.run(_drive(spec, share, requests, start_at.value))
    result.prepare_seconds = prepared
    out.put((index, result))


def run_load(spec: LoadSpec, processes: int, on_window: Callable[[], None] | None = None) -> LoadResult:
    """Drive ``spec`` from ``processes`` worker processes; return the merged figures.

    ``on_window`` is called when the measured window opens and when it closes (CPU accounting).
    """
    context = multiprocessing.get_context("spawn")
    ready, out = context.Queue(), context.Queue()
    go = context.Event()
    start_at = context.Value("d", 0.0)
    shares = [
        spec.connections // processes + (1 if i < spec.connections % processes else 0)
        for i in range(processes)
    ]
    workers = [
        context.Process(target=_worker, args=(spec, i, shares[i], ready, go, start_at, out), daemon=True)
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=600)
    start_at.value = time.monotonic() + 0.2
    go.set()
    if on_window is not None:
        window = start_at.value + spec.warmup
        time.sleep(max(0.0, window - time.monotonic()))
        on_window()
        time.sleep(max(0.0, window + spec.duration - time.monotonic()))
        on_window()
    results: dict[int, WorkerResult] = {}
    for _ in workers:
        index, result = out.get(timeout=spec.warmup + spec.duration + 120)
        results[index] = result
    for worker in workers:
        worker.join(timeout=10)
    statuses: Counter[int] = Counter()
    latencies: list[int] = []
    for result in results.values():
        statuses.update(result.statuses)
        latencies.extend(result.latencies_ns)
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        seconds=spec.duration,
        statuses=statuses,
        p50_ms=_percentile(latencies, 0.50) / 1e6,
        p99_ms=_percentile(latencies, 0.99) / 1e6,
        errors=sum(r.errors for r in results.values()),
        exhausted=any(r.exhausted for r in results.values()),
        generator_cpu_seconds=sum(r.cpu_seconds for r in results.values()),
        prepare_seconds=max(r.prepare_seconds for r in results.values()),
    )


def _percentile(ordered: list[int], q: float) -> float:
    if not ordered:
        return math.nan
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])
