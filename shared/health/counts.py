"""Counts with no database row of their own, in Redis per-minute buckets shared by every instance.

A delivery answered 202, 200 (already processed), 401, 413 or 503 leaves no row: the event's
row is written later by the processor (or never, for a duplicate), and a 401 or 413 is not
stored at all. Each instance counts these in process (:mod:`shared.metrics`); this module
listens to those increments and adds them to one Redis hash per minute,
``{prefix}counts:{unix minute}`` (field ``name|label=value,...``, kept 25 hours), and to one
per hour, ``{prefix}counts:h:{unix hour}``, so that the metrics endpoint sums the same figures
whichever instance answers it, reading a day as about 23 hours and 120 minutes rather than
1,440 minutes (:meth:`MinuteCounts.span`).

Recording never blocks and never raises: an increment only adds to a pending map, and one
background task per runtime writes what is pending in one pipelined round trip. If Redis is
down the pending counts stay (for 24 hours at most) and are written with the next increment's
flush; meanwhile the windows undercount, and the in-process counters still have them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Clock = Callable[[], float]

BUCKET_SECONDS = 60
#: A bucket lives this long: the longest window (24 h) plus margin for clocks and late writes.
KEEP_SECONDS = 25 * 3600
#: Counters kept in Redis: every answer the receiver and the import give (the 400/422 ones also
#: have rows in rejected_deliveries; the metrics take those from there).
SHARED_COUNTERS = frozenset(
    {
        "deliveries_accepted",
        "deliveries_already_processed",
        "deliveries_rejected",
        "deliveries_unqueued",
        "import_lines",
        "imports_unqueued",
    }
)


@dataclass(frozen=True, slots=True)
class Count:
    name: str
    labels: tuple[tuple[str, str], ...]

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


def field_of(name: str, labels: Mapping[str, str]) -> str:
    """The hash field of one counter and label set: ``name|k=v,k=v`` (labels sorted)."""
    return name + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def parse_field(field: str) -> Count:
    name, _, rest = field.partition("|")
    labels = tuple(tuple(pair.split("=", 1)) for pair in rest.split(",") if "=" in pair)
    return Count(name, labels)  # type: ignore[arg-type]  # pairs of two by construction


def minute_of(moment: float) -> int:
    return int(moment // BUCKET_SECONDS)


class MinuteCounts:
    """Per-minute counters in Redis: :meth:`record` (sync, from a metrics listener) and reads."""

    def __init__(self, client: aioredis.Redis, prefix: str, *, clock: Clock = time.time) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._pending: Counter[tuple[int, str]] = Counter()
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def key(self, minute: int) -> str:
        return f"{self._prefix}counts:{minute}"

    def hour_key(self, hour: int) -> str:
        return f"{self._prefix}counts:h:{hour}"

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write from tasks of ``loop`` (the runtime's): increments made elsewhere stay pending."""
        self._loop = loop

    def record(self, name: str, amount: int, labels: Mapping[str, str]) -> None:
        """A :data:`shared.metrics.Listener`: keep the shared counters, schedule their write."""
        if name not in SHARED_COUNTERS or amount == 0:
            return
        self._pending[(minute_of(self._clock()), field_of(name, labels))] += amount
        self._schedule()

    def _schedule(self) -> None:
        if self._writer is not None and not self._writer.done():
            return  # the running writer takes what is pending before it stops
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is not None and loop is not self._loop:
            return
        self._writer = loop.create_task(self._write_pending())

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, Counter()
            try:
                await self._write(batch)
            except (RedisError, OSError) as exc:
                self._keep(batch)
                log.warning("per-minute counts not written to Redis (%s); kept for later", type(exc).__name__)
                return

    async def _write(self, batch: Mapping[tuple[int, str], int]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for (minute, field), amount in batch.items():
                pipe.hincrby(self.key(minute), field, amount)
                pipe.hincrby(self.hour_key(minute // 60), field, amount)
            for minute in {minute for minute, _ in batch}:
                pipe.expire(self.key(minute), KEEP_SECONDS)
            for hour in {minute // 60 for minute, _ in batch}:
                pipe.expire(self.hour_key(hour), KEEP_SECONDS + 3600)
            await pipe.execute()

    def _keep(self, batch: Mapping[tuple[int, str], int]) -> None:
        oldest = minute_of(self._clock() - 24 * 3600)
        for (minute, field), amount in batch.items():
            if minute >= oldest:
                self._pending[(minute, field)] += amount

    async def flush(self) -> None:
        """Write what is pending now (at close, and in tests before reading)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        with contextlib.suppress(RedisError, OSError):
            await self._write_pending()

    async def _read(self, keys: list[str]) -> list[Counter[Count]]:
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            raw = await pipe.execute()
        return [
            Counter({parse_field(_text(field)): int(value) for field, value in fields.items()})
            for fields in raw
        ]

    async def minutes(self, first: int, last: int) -> dict[int, Counter[Count]]:
        """The counts of every minute from ``first`` to ``last`` (included), in one round trip."""
        minutes = list(range(first, last + 1))
        read = await self._read([self.key(minute) for minute in minutes])
        return {minute: counts for minute, counts in zip(minutes, read, strict=True) if counts}

    async def span(self, first: int, last: int) -> Counter[Count]:
        """Totals of the minutes ``first`` to ``last`` (included), whole hours read from the hour
        buckets: at most 118 minute buckets and the hours between, in one round trip."""
        keys = []
        minute = first
        while minute <= last:
            if minute % 60 == 0 and minute + 59 <= last:
                keys.append(self.hour_key(minute // 60))
                minute += 60
            else:
                keys.append(self.key(minute))
                minute += 1
        return total(await self._read(keys))

    async def window(self, seconds: int) -> Counter[Count]:
        """Totals over the last ``seconds`` (whole minutes, the current one included)."""
        now = minute_of(self._clock())
        first = now - seconds // BUCKET_SECONDS + 1
        return total(await self.minutes(first, now))


def total(minutes: Iterable[Counter[Count]] | Mapping[int, Counter[Count]]) -> Counter[Count]:
    values = minutes.values() if isinstance(minutes, Mapping) else minutes
    summed: Counter[Count] = Counter()
    for counts in values:
        summed.update(counts)
    return summed


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
