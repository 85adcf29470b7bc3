"""Discover functions and bindings from the FunctionApp object, exactly once.

``FunctionApp.get_functions()`` builds the function list and registers the names; a second call
raises (duplicate names), so devhost calls it once and keeps the result. Binding values come
from each function's own JSON (what the host would index), with ``%Setting%`` references
resolved; anything devhost cannot run the way the host would (another trigger type, an input or
output binding) stops it at start with the function's name, rather than misbehaving later.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from croniter import croniter

from devhost.host_config import parse_timespan
from devhost.resolve import resolve_binding
from devhost.worker_rules import refusals
from shared.errors import ConfigurationError

ArgKind = Literal["message", "str", "bytes"]
SUPPORTED_TRIGGERS = ("httpTrigger", "serviceBusTrigger", "timerTrigger")


@dataclass(frozen=True, slots=True)
class Target:
    """The user function and how to call it."""

    name: str
    func: Callable[..., Any]
    param: str
    wants_context: bool
    is_async: bool
    arg_kind: ArgKind


@dataclass(frozen=True, slots=True)
class HttpFunction:
    target: Target
    route: str
    methods: frozenset[str] | None
    auth_level: str


@dataclass(frozen=True, slots=True)
class QueueFunction:
    target: Target
    queue: str
    connection: str
    many: bool


@dataclass(frozen=True, slots=True)
class TimerFunction:
    target: Target
    schedule: str
    run_on_startup: bool


Discovered = HttpFunction | QueueFunction | TimerFunction


def load_app(spec: str, script_root: Path) -> Any:
    """Import ``module:attr`` (``attr`` defaults to ``app``) with ``script_root`` on sys.path."""
    module_name, _, attr = spec.partition(":")
    root = str(script_root.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigurationError(f"cannot import the app module {module_name!r} from {root}") from None
        raise
    app = getattr(module, attr or "app", None)
    if app is None or not callable(getattr(app, "get_functions", None)):
        raise ConfigurationError(f"{spec!r} does not name a FunctionApp (no get_functions())")
    return app


def _arg_kind(func: Callable[..., Any], param: str) -> ArgKind:
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # an unresolvable annotation: fall back to the message object
        return "message"
    hint = hints.get(param)
    if typing.get_origin(hint) in (list, typing.List):  # noqa: UP006
        args = typing.get_args(hint)
        hint = args[0] if args else None
    if hint is str:
        return "str"
    if hint is bytes:
        return "bytes"
    return "message"


def _target(name: str, func: Callable[..., Any], param: str) -> Target:
    parameters = inspect.signature(func).parameters
    if param not in parameters:
        raise ConfigurationError(f"function {name!r}: its trigger binds {param!r}, which is not a parameter")
    unknown = [p for p in parameters if p not in (param, "context")]
    if unknown:
        raise ConfigurationError(
            f"function {name!r}: parameters {unknown} have no binding devhost can supply"
        )
    return Target(
        name=name,
        func=func,
        param=param,
        wants_context="context" in parameters,
        is_async=inspect.iscoroutinefunction(func),
        arg_kind=_arg_kind(func, param),
    )


def validate_schedule(schedule: str, *, where: str) -> None:
    """A 6-field NCRONTAB (seconds first) or a TimeSpan; anything else stops the start."""
    if ":" in schedule:
        if parse_timespan(schedule, where=where) <= parse_timespan("00:00:00", where=where):
            raise ConfigurationError(f"{where}: a TimeSpan schedule must be positive")
        return
    if len(schedule.split()) != 6 or not croniter.is_valid(schedule, second_at_beginning=True):
        raise ConfigurationError(
            f"{where}: {schedule!r} is not a 6-field NCRONTAB expression "
            "(second minute hour day month weekday)"
        )


def _build(function: Any, environ: Mapping[str, str]) -> Discovered:
    name: str = function.get_function_name()
    bindings = json.loads(function.get_function_json())["bindings"]
    trigger_raw = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
    if trigger_raw is None:
        raise ConfigurationError(f"function {name!r} has no trigger")
    kind = trigger_raw["type"]
    if kind not in SUPPORTED_TRIGGERS:
        raise ConfigurationError(f"function {name!r}: devhost does not run {kind!r} triggers")
    for binding in bindings:
        if binding is trigger_raw or (binding.get("type") == "http" and binding.get("name") == "$return"):
            continue
        raise ConfigurationError(
            f"function {name!r}: devhost does not support the {binding.get('type')!r} binding "
            f"{binding.get('name')!r} (send messages through shared.messaging instead)"
        )
    trigger = resolve_binding(trigger_raw, environ, function=name)
    target = _target(name, function.get_user_function(), trigger["name"])
    if kind == "httpTrigger":
        methods = trigger.get("methods")
        return HttpFunction(
            target=target,
            route=str(trigger.get("route") or name).strip("/"),
            methods=frozenset(str(m).upper() for m in methods) if methods else None,
            auth_level=str(trigger.get("authLevel", "FUNCTION")).lower(),
        )
    if kind == "serviceBusTrigger":
        queue = trigger.get("queueName")
        if not queue:
            raise ConfigurationError(f"function {name!r}: only queue triggers are supported (no topics)")
        return QueueFunction(
            target=target,
            queue=str(queue),
            connection=str(trigger.get("connection") or "AzureWebJobsServiceBus"),
            many=str(trigger.get("cardinality", "ONE")).upper() == "MANY",
        )
    schedule = str(trigger["schedule"])
    validate_schedule(schedule, where=f"function {name!r} schedule")
    return TimerFunction(target=target, schedule=schedule, run_on_startup=bool(trigger.get("runOnStartup")))


def discover(app: Any, environ: Mapping[str, str]) -> list[Discovered]:
    """Every function of ``app`` with its resolved trigger; calls ``get_functions()`` once.

    First every function goes through the Azure Python worker's load-time rules
    (:mod:`devhost.worker_rules`): what Azure would refuse, devhost refuses too, quoting the
    worker, since on Azure one such function keeps every function of the app from loading.
    """
    functions = app.get_functions()
    refused = refusals(functions)
    if refused:
        listed = "\n".join(f"  {refusal}" for refusal in refused)
        raise ConfigurationError(
            "Azure's Python worker would not load this app (on Azure, no function of it would run; "
            f"devhost refuses it too):\n{listed}"
        )
    return [_build(function, environ) for function in functions]
