"""A few SDK senders per queue, each lent to one coroutine at a time.

Why a pool: the ``azure-servicebus`` async sender is not coroutine-safe. Two coroutines inside
one sender break its link (``'NoneType' object has no attribute 'create_sender_link'``,
azure-sdk-for-python #36334, #35618), and the SDK's advice, one ``asyncio.Lock`` around it,
would make every webhook's acknowledgement wait for every other one's send. So each sender is
used by one coroutine at a time and concurrent sends run on different senders, up to ``size``;
beyond that they wait for one to be returned.

The rules:

* Senders are opened lazily, only when every existing one is lent out, so a quiet worker holds
  one per queue, not ``size``.
* A returned sender goes on top of a stack and the next lease takes the top one (LIFO): light
  traffic keeps reusing the same warm link while the others age out, instead of spreading a
  trickle over every link and letting each of them idle out.
* A sender idle for longer than ``max_idle`` is closed instead of being lent: Service Bus
  detaches a link after 10 idle minutes, and the async SDK then fails the next send with a bare
  ``AttributeError`` (#48921) instead of reconnecting.
* Whatever a borrower raises through :meth:`SenderPool.lease` (cancellation included, since a
  send cut off half-way leaves the link in an unknown state) discards that sender, except the
  exception types in ``keeps`` (a refusal of the message, not of the link). A discarded sender
  is closed best-effort, with a time limit, and never lent again; the other senders are not
  touched, and the next lease opens a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

#: How long closing a discarded sender may take. A broken link may never answer its close;
#: the borrower that found it broken is waiting for its error meanwhile.
CLOSE_TIMEOUT_SECONDS = 5.0


class Closeable(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=Closeable)


@dataclass(slots=True)
class _Idle(Generic[S]):
    sender: S
    since: float


class SenderPool(Generic[S]):
    """Up to ``size`` senders made by ``open_sender``; each lease lends one exclusively."""

    def __init__(
        self,
        open_sender: Callable[[], S],
        *,
        name: str,
        size: int,
        max_idle: float,
        keeps: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
        close_timeout: float = CLOSE_TIMEOUT_SECONDS,
    ) -> None:
        if size < 1:
            raise ValueError(f"a sender pool needs at least one sender, not {size}")
        self.name = name
        self._open_sender = open_sender
        self._keeps = keeps
        self._max_idle = max_idle
        self._clock = clock
        self._close_timeout = close_timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Idle[S]] = []  # oldest first; leases take from the end
        self._lent: list[S] = []
        self._closed = False

    @property
    def senders(self) -> int:
        """How many senders are open now, lent or idle."""
        return len(self._idle) + len(self._lent)

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[S]:
        """Lend one sender for the ``async with`` block; see the module's rules."""
        async with self._slots:
            if self._closed:
                raise RuntimeError(f"the sender pool of {self.name!r} is closed")
            await self._retire_stale()
            sender = self._idle.pop().sender if self._idle else self._open_sender()
            self._lent.append(sender)
            try:
                yield sender
            except self._keeps:
                self._give_back(sender)
                raise
            except BaseException as exc:
                self._lent.remove(sender)
                log.warning("discarded a sender of %s after %s", self.name, type(exc).__name__)
                await self._close(sender)
                raise
            self._give_back(sender)

    def _give_back(self, sender: S) -> None:
        self._lent.remove(sender)
        if self._closed:
            # close() has closed it already (a send in flight at shutdown).
            return
        self._idle.append(_Idle(sender, self._clock()))

    async def _retire_stale(self) -> None:
        now = self._clock()
        while self._idle and now - self._idle[0].since > self._max_idle:
            await self._close(self._idle.pop(0).sender)

    async def _close(self, sender: S) -> None:
        # Best effort: the sender is out of the pool already, whatever its close does.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._close_timeout):
                await sender.close()

    async def close(self) -> None:
        """Close every sender, idle or lent; leases after this raise."""
        self._closed = True
        senders = [idle.sender for idle in self._idle] + list(self._lent)
        self._idle.clear()
        for sender in senders:
            await self._close(sender)
