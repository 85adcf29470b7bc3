"""``python -m ops AREA VERB ...``: build the parser from the areas, run one command, print it.

Areas are found, not listed: every module of ``ops/`` that defines ``AREA`` (an
:class:`ops.command.Area`) is one, so a new area is one new module and no other file changes.

Errors become exit statuses (:class:`ops.report.Exit`) and one line on stderr naming the
cause (a setting's name, a service's address, never a secret); with ``--json`` the same error
is also printed on stdout as ``{"error": {"kind": ..., "message": ...}}``, so a script always
reads one JSON document. Usage errors are argparse's, on stderr, status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pkgutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg

import ops
from ops.command import Area, Command
from ops.context import Context, read_settings
from ops.report import Exit, Report, render_json, render_text
from shared.errors import ConfigurationError, PermanentError, TransientError

PROG = "python -m ops"
DEFAULT_SETTINGS_FILE = Path("local.settings.json")

#: How each error the commands may raise ends the run: (exit status, kind in the JSON error).
_ERRORS: tuple[tuple[tuple[type[BaseException], ...], Exit, str], ...] = (
    ((ConfigurationError,), Exit.USAGE, "configuration"),
    ((TransientError, psycopg.OperationalError, psycopg.InterfaceError), Exit.UNAVAILABLE, "unavailable"),
    ((PermanentError,), Exit.NOTHING, "refused"),
)


def discover_areas() -> list[Area]:
    """Every ``AREA`` defined by a module of the ``ops`` package, by name."""
    areas: dict[str, Area] = {}
    for module in pkgutil.iter_modules(ops.__path__):
        if module.name.startswith("_"):
            continue
        area = getattr(importlib.import_module(f"ops.{module.name}"), "AREA", None)
        if isinstance(area, Area):
            if area.name in areas:
                raise ValueError(f"two modules define the ops area {area.name!r}")
            areas[area.name] = area
    return [areas[name] for name in sorted(areas)]


def build_parser(areas: Sequence[Area]) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print one JSON document (stable keys) instead of text"
    )
    common.add_argument(
        "--settings-file",
        type=Path,
        metavar="PATH",
        help="settings for what the environment leaves unset (default: ./local.settings.json, if present)",
    )
    changes = argparse.ArgumentParser(add_help=False)
    changes.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=ops.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    by_area = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    for area in areas:
        area_parser = by_area.add_parser(area.name, help=area.help, description=area.help)
        by_verb = area_parser.add_subparsers(dest="verb", metavar="VERB", required=True)
        for command in area.commands.values():
            verb_parser = by_verb.add_parser(
                command.verb,
                help=command.help,
                description=command.description,
                parents=[common, changes] if command.changes_data else [common],
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            command.add_arguments(verb_parser)
            verb_parser.set_defaults(command=command)
    return parser


def _fail(args: argparse.Namespace, status: Exit, kind: str, message: str) -> int:
    print(f"ops: error: {message}", file=sys.stderr)
    if args.json:
        sys.stdout.write(render_json({"error": {"kind": kind, "message": message}}))
    return int(status)


async def _execute(command: Command, args: argparse.Namespace, settings: Mapping[str, str]) -> Report:
    async with Context(settings, dry_run=getattr(args, "dry_run", False)) as ctx:
        return await command.handler(ctx, args)


async def run(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str],
    settings_file: Path | None = DEFAULT_SETTINGS_FILE,
) -> int:
    """Run one command; return its exit status. ``settings_file`` is read unless
    ``--settings-file`` names another (``None``: none, unless named)."""
    try:
        args = build_parser(discover_areas()).parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0) if isinstance(exc.code, int | None) else int(Exit.USAGE)
    try:
        settings = read_settings(environ, args.settings_file or settings_file)
        report = await _execute(args.command, args, settings)
    except Exception as exc:
        for kinds, status, kind in _ERRORS:
            if isinstance(exc, kinds):
                return _fail(args, status, kind, str(exc).strip() or type(exc).__name__)
        raise
    sys.stdout.write(render_json(report.data) if args.json else render_text(report.blocks))
    return int(report.exit)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(sys.argv[1:] if argv is None else argv, environ=os.environ))


__all__ = ["build_parser", "discover_areas", "main", "run"]
