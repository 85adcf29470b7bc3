"""Areas and their commands: the one pattern every part of ``python -m ops`` follows.

An area is a module of ``ops/`` that defines ``AREA = Area(name, help)``; the CLI finds it by
that name (``ops/cli.py``), so adding an area touches no other file. Each command is an async
function registered with :meth:`Area.command`::

    AREA = Area("events", "webhook events as the processor recorded them")

    @AREA.command("list", help="...", options=(option("--limit", type=positive_int, default=50),))
    async def list_events(ctx: Context, args: argparse.Namespace) -> Report:
        \"\"\"The --help text: what the command shows and when to use it.\"\"\"
        conn = await ctx.database()
        ...
        return Report(data={...}, blocks=[Table(...)])

What the framework gives every command, so that no command can forget it: ``--help`` (the
function's docstring is its description), ``--json``, ``--settings-file``, and ``--dry-run`` for
a command registered with ``changes_data=True`` (the command reads ``ctx.dry_run`` and must then
only read and say what it would do). It also maps errors to exit statuses (:class:`Exit`).
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ops.report import Report

if TYPE_CHECKING:
    from ops.context import Context

Handler = Callable[["Context", argparse.Namespace], Awaitable[Report]]


@dataclass(frozen=True, slots=True)
class Option:
    """One argument, as ``parser.add_argument(*flags, **settings)`` takes it."""

    flags: tuple[str, ...]
    settings: Mapping[str, Any]


def option(*flags: str, **settings: Any) -> Option:
    return Option(flags, settings)


@dataclass(frozen=True, slots=True)
class OneOf:
    """Options that exclude each other; with ``required``, exactly one must be given."""

    options: tuple[Option, ...]
    required: bool = True


def one_of(*options: Option, required: bool = True) -> OneOf:
    return OneOf(options, required)


Argument = Option | OneOf


@dataclass(frozen=True, slots=True)
class Command:
    area: str
    verb: str
    help: str
    handler: Handler
    options: tuple[Argument, ...] = ()
    changes_data: bool = False

    @property
    def description(self) -> str:
        return inspect.getdoc(self.handler) or self.help

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        for argument in self.options:
            if isinstance(argument, OneOf):
                group = parser.add_mutually_exclusive_group(required=argument.required)
                for opt in argument.options:
                    group.add_argument(*opt.flags, **opt.settings)
            else:
                parser.add_argument(*argument.flags, **argument.settings)


@dataclass
class Area:
    """A group of commands under one name (``python -m ops NAME VERB``)."""

    name: str
    help: str
    commands: dict[str, Command] = field(default_factory=dict)

    def command(
        self, verb: str, *, help: str, options: tuple[Argument, ...] = (), changes_data: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register the decorated handler as ``python -m ops <area> <verb>``."""

        def register(handler: Handler) -> Handler:
            if verb in self.commands:
                raise ValueError(f"ops {self.name} {verb} is registered twice")
            self.commands[verb] = Command(self.name, verb, help, handler, options, changes_data)
            return handler

        return register


# --------------------------------------------------------------------------- argument types


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def moment(text: str, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> datetime:
    """A point in time: ``30m``, ``2h``, ``7d`` ago, or an ISO 8601 date or time (UTC if no offset)."""
    ago = _AGO.match(text.strip())
    if ago:
        return now() - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration ago (30m, 2h, 7d) nor an ISO 8601 time (2026-11-28T10:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
