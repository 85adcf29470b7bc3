"""Calling a user function the way the Python worker does, and the one log line per call.

``async def`` functions run on the host's event loop; plain functions run in a thread pool so
they never block it. A function that declares a ``context`` parameter gets an
:class:`InvocationContext`. Each invocation logs one INFO line with the function, trigger,
outcome and duration (never a message or request body); a failure also logs its traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devhost.discovery import Target

log = logging.getLogger("devhost.invocations")


@dataclass(frozen=True, slots=True)
class InvocationContext:
    """What ``azure.functions.Context`` offers that devhost can fill in."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: None = None
    retry_context: None = None
    thread_local_storage: threading.local = field(default_factory=threading.local)


class Invoker:
    """Runs user functions; sync ones in ``executor``."""

    def __init__(self, executor: ThreadPoolExecutor, function_directory: str) -> None:
        self.executor = executor
        self.function_directory = function_directory

    async def call(self, target: Target, argument: Any) -> Any:
        kwargs: dict[str, Any] = {target.param: argument}
        if target.wants_context:
            kwargs["context"] = InvocationContext(
                invocation_id=str(uuid.uuid4()),
                function_name=target.name,
                function_directory=self.function_directory,
            )
        if target.is_async:
            return await target.func(**kwargs)
        call = functools.partial(contextvars.copy_context().run, target.func, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)


def log_invocation(
    target: Target, trigger: str, started: float, outcome: str, detail: str = "", *, level: int = logging.INFO
) -> None:
    """``Executed 'Functions.name' (Succeeded, trigger=..., Duration=12ms)``."""
    duration_ms = (time.perf_counter() - started) * 1000
    extra = f", {detail}" if detail else ""
    log.log(
        level,
        "Executed 'Functions.%s' (%s, trigger=%s, Duration=%.0fms%s)",
        target.name,
        outcome,
        trigger,
        duration_ms,
        extra,
    )
