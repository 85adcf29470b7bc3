"""What a command may use: the settings, and the connections built from them when first asked.

Settings are read as the app reads them (DESIGN.md): the environment, then
``local.settings.json`` ``Values`` for what the environment leaves unset (as devhost does, so a
command run from a checkout reaches the local app's database and queues), an empty value
meaning unset. Each resource checks only the settings it needs, when a command first asks for
it: ``ops events list`` needs ``DATABASE_URL`` and nothing else, and an error names the missing
or malformed setting, never its value.

Resources are opened once per run and closed by :meth:`Context.close`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg.rows import DictRow, dict_row

from shared.db import connect
from shared.errors import DependencyUnavailable
from shared.local_settings import load_local_settings
from shared.messaging.dead_letters import DeadLetterQueues
from shared.messaging.factory import create_dead_letter_queues, create_message_sender
from shared.messaging.pg_pool import describe_target
from shared.messaging.port import MessageSender
from shared.settings import database_url, setting

#: Tells an operator (and the tests) whose connection this is in ``pg_stat_activity``.
APPLICATION_NAME = "portal-integration:ops"


def read_settings(environ: Mapping[str, str], settings_file: Path | None) -> dict[str, str]:
    """The environment, completed by ``settings_file``'s ``Values`` where it leaves a setting unset."""
    merged = dict(environ)
    if settings_file is not None:
        load_local_settings(settings_file, merged)
    return merged


class Context:
    """Settings and lazily built resources for one command run."""

    def __init__(self, settings: Mapping[str, str], *, dry_run: bool = False) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self._stack = contextlib.AsyncExitStack()
        self._database: psycopg.AsyncConnection[DictRow] | None = None
        self._dead_letters: DeadLetterQueues | None = None
        self._sender: MessageSender | None = None

    async def database(self) -> psycopg.AsyncConnection[DictRow]:
        """One autocommit connection to ``DATABASE_URL`` (rows as dicts), authenticated as the
        app's pool is (``DATABASE_AUTH``: the URL's password, or an Entra ID token); a command
        that writes opens its own transactions on it."""
        if self._database is None:
            url = database_url(self.settings)
            auth = setting(self.settings, "DATABASE_AUTH") or "password"
            try:
                conn = await self._stack.enter_async_context(connect(url, auth=auth))
                await conn.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_NAME,))
            except DependencyUnavailable as exc:
                raise DependencyUnavailable(
                    f"PostgreSQL at {describe_target(url)} (DATABASE_URL) did not answer: {exc}"
                ) from exc
            conn.row_factory = dict_row  # type: ignore[assignment]  # the connection is ours alone
            self._database = cast("psycopg.AsyncConnection[DictRow]", conn)
        return self._database

    async def dead_letter_queues(self) -> DeadLetterQueues:
        """The queues' dead letters on the transport ``ServiceBusConnection`` names."""
        if self._dead_letters is None:
            self._dead_letters = await create_dead_letter_queues(self.settings)
            self._stack.push_async_callback(self._dead_letters.close)
        return self._dead_letters

    async def sender(self) -> MessageSender:
        """The app's own sender (``ServiceBusConnection``), for commands that put messages back."""
        if self._sender is None:
            self._sender = await create_message_sender(self.settings)
            self._stack.push_async_callback(self._sender.close)
        return self._sender

    async def close(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()
