"""Assemble and run everything: settings, app discovery, HTTP, queue and timer triggers.

Order matters and mirrors the Functions host: ``local.settings.json`` is loaded into the
environment (never overriding it) before the app module is imported; functions are discovered
once and every ``%Setting%`` is resolved before anything starts, so a missing setting is a
startup error; the queue schema is ensured before the first receive. Shutdown stops HTTP and
receiving first, gives running invocations a grace period, then abandons what is unfinished.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from devhost.discovery import Discovered, HttpFunction, QueueFunction, TimerFunction, discover, load_app
from devhost.host_config import HostConfig, load_host_config
from devhost.http_server import HttpServer
from devhost.invoke import Invoker
from devhost.queue_trigger import QueueSettings, QueueTrigger
from devhost.timer_trigger import TimerTrigger
from shared.errors import ConfigurationError, DependencyUnavailable
from shared.local_settings import load_local_settings
from shared.messaging.factory import CONNECTION_SETTING
from shared.messaging.pg_listen import QueueWakeups
from shared.messaging.pg_pool import POSTGRES_SCHEMES, QueuePool
from shared.messaging.pg_queue import DUPLICATE_WINDOW
from shared.messaging.pg_receiver import PgQueueReceiver
from shared.runtime import close_runtime

log = logging.getLogger("devhost")

_PURGE_EVERY = 60.0


@dataclass(slots=True)
class HostOptions:
    """Everything the command line can set."""

    app: str = "function_app:app"
    script_root: Path = field(default_factory=Path.cwd)
    settings_file: Path | None = None
    host_json: Path | None = None
    host: str = "127.0.0.1"
    port: int = 7071
    lock_duration: timedelta = timedelta(seconds=60)
    max_delivery_count: int = 10
    shutdown_grace: float = 30.0
    poll_interval: float = 1.0
    max_concurrent_calls: int | None = None  # overrides host.json when set


def queue_url(environ: MutableMapping[str, str], setting: str, *, function: str | None = None) -> str:
    """The PostgreSQL URL a trigger's ``connection`` setting names (devhost needs that form)."""
    value = (environ.get(setting) or "").strip()
    who = f"function {function!r}: " if function else ""
    if not value:
        raise ConfigurationError(f"{who}the connection setting {setting} is not set")
    if not value.startswith(POSTGRES_SCHEMES):
        raise ConfigurationError(
            f"{who}{setting} must be a postgresql:// URL under devhost (its queues live in PostgreSQL); "
            "use `func start` for a real Service Bus"
        )
    return value


class Host:
    """One devhost: build with :meth:`prepare`, then :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        options: HostOptions,
        functions: list[Discovered],
        config: HostConfig,
        environ: MutableMapping[str, str],
    ) -> None:
        self.options = options
        self.functions = functions
        self.config = config
        self.environ = environ
        self.executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="devhost-sync")
        self.invoker = Invoker(self.executor, str(options.script_root))
        bus = config.service_bus
        self.queue_settings = QueueSettings(
            lock_duration=options.lock_duration,
            max_delivery_count=options.max_delivery_count,
            max_concurrent_calls=options.max_concurrent_calls or bus.max_concurrent_calls,
            max_message_batch_size=bus.max_message_batch_size,
            max_auto_lock_renewal=bus.max_auto_lock_renewal,
            poll_interval=options.poll_interval,
        )
        self.http: HttpServer | None = None
        self.queue_triggers: list[QueueTrigger] = []
        self.timers: list[TimerTrigger] = []
        self._pools: dict[str, tuple[QueuePool, QueueWakeups]] = {}
        self._housekeeping: asyncio.Task[None] | None = None

    @classmethod
    def prepare(cls, options: HostOptions, environ: MutableMapping[str, str] | None = None) -> Host:
        """Load settings, import the app, discover its functions; raise on any config error."""
        env = os.environ if environ is None else environ
        settings_file = options.settings_file or options.script_root / "local.settings.json"
        load_local_settings(settings_file, env)
        return cls.from_app(options, load_app(options.app, options.script_root), env)

    @classmethod
    def from_app(cls, options: HostOptions, app: Any, environ: MutableMapping[str, str]) -> Host:
        """Discover ``app``'s functions (settings already in ``environ``); raise on config errors."""
        env = environ
        functions = discover(app, env)
        config = load_host_config(options.host_json or options.script_root / "host.json")
        if not config.service_bus.auto_complete:
            log.warning("host.json sets autoCompleteMessages=false; devhost completes on success anyway")
        for function in functions:
            if isinstance(function, QueueFunction):
                queue_url(env, function.connection, function=function.target.name)
        return cls(options, functions, config, env)

    def _pool_for(self, url: str) -> tuple[QueuePool, QueueWakeups]:
        if url not in self._pools:
            self._pools[url] = (QueuePool(url, max_size=20), QueueWakeups(url))
        return self._pools[url]

    async def start(self) -> None:
        """Ensure the queue schema, then start HTTP, queue and timer triggers."""
        urls = {queue_url(self.environ, f.connection) for f in self.functions if isinstance(f, QueueFunction)}
        app_queue = (self.environ.get(CONNECTION_SETTING) or "").strip()
        if app_queue.startswith(POSTGRES_SCHEMES):
            urls.add(app_queue)
        for url in urls:
            pool, wakeups = self._pool_for(url)
            await pool.ping()  # opens the pool and ensures the devhost schema
            await wakeups.start()
        http_functions = [f for f in self.functions if isinstance(f, HttpFunction)]
        if http_functions:
            self.http = HttpServer(
                http_functions,
                self.invoker,
                host=self.options.host,
                port=self.options.port,
                route_prefix=self.config.route_prefix,
            )
            await self.http.start()
        for function in self.functions:
            if isinstance(function, QueueFunction):
                pool, wakeups = self._pool_for(queue_url(self.environ, function.connection))
                trigger = QueueTrigger(
                    function, PgQueueReceiver(pool), wakeups, self.invoker, self.queue_settings
                )
                self.queue_triggers.append(trigger)
            elif isinstance(function, TimerFunction):
                self.timers.append(TimerTrigger(function, self.invoker))
        for trigger in self.queue_triggers:
            trigger.start()
        for timer in self.timers:
            timer.start()
        if self._pools:
            self._housekeeping = asyncio.create_task(self._purge_duplicate_ids())

    def banner(self) -> str:
        lines = [f"devhost: {len(self.functions)} function(s) from {self.options.app}", "", "Functions:", ""]
        for function in self.functions:
            name = function.target.name
            if isinstance(function, HttpFunction) and self.http is not None:
                methods = ",".join(sorted(function.methods)) if function.methods else "ALL"
                url = self.http.url(function)
                lines.append(f"\t{name}: [{methods}] {url}  (auth: {function.auth_level})")
        for trigger in self.queue_triggers:
            lines.append(f"\t{trigger.function.target.name}: {trigger.describe()}")
        for timer in self.timers:
            lines.append(f"\t{timer.function.target.name}: {timer.describe()}")
        lines += ["", "Host started. Press Ctrl-C to stop."]
        return "\n".join(lines)

    async def stop(self) -> None:
        """Stop taking work, let running invocations finish (bounded), abandon the rest."""
        grace = self.options.shutdown_grace
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        stopping: list[Any] = [trigger.stop(grace) for trigger in self.queue_triggers]
        stopping += [timer.stop(grace) for timer in self.timers]
        if self.http is not None:
            stopping.append(self.http.stop(grace))
        await asyncio.gather(*stopping)
        # The app's pools and clients live on this loop: close them before it ends, as a worker
        # process exiting would, so that a stop leaves no "Unclosed client session" behind.
        await close_runtime()
        for pool, wakeups in self._pools.values():
            await wakeups.stop()
            await pool.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def run_until_signalled(self) -> None:
        """Start, print the banner, wait for SIGINT/SIGTERM, stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            print(self.banner(), flush=True)
            await stop.wait()
            log.info(
                "Shutting down: no new work; waiting up to %gs for running invocations",
                self.options.shutdown_grace,
            )
        finally:
            await self.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _purge_duplicate_ids(self) -> None:
        while True:
            await asyncio.sleep(_PURGE_EVERY)
            for pool, _ in self._pools.values():
                try:
                    await PgQueueReceiver(pool).purge_duplicate_ids(DUPLICATE_WINDOW)
                except DependencyUnavailable as exc:
                    log.warning("could not purge old message ids: %s", exc)
