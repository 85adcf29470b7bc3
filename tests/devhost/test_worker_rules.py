"""devhost refuses, at start and in the worker's words, every function Azure's Python worker would
not load (DESIGN.md, "Running locally"), and accepts what the worker accepts.

The expected messages are the ones the real worker (azure-functions-python-worker 4.34, through
``../shared/tools/azure-worker-check``) printed for these same functions.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import azure.functions as func
import pytest

from devhost.discovery import discover
from devhost.host import Host, HostOptions
from devhost.worker_rules import refusals
from shared.errors import ConfigurationError
from tests.support.function_app import fresh_app

pytestmark = pytest.mark.unit


def _app(register: Callable[[func.FunctionApp], None]) -> func.FunctionApp:
    app = func.FunctionApp()
    register(app)
    return app


def _pep585(app: func.FunctionApp) -> None:
    @app.service_bus_queue_trigger(arg_name="m", queue_name="q", connection="C", cardinality="many")
    async def pep585(m: list[func.ServiceBusMessage]) -> None: ...


def _unresolvable(app: func.FunctionApp) -> None:
    @app.route(route="b")
    async def unresolved(req: NoSuchType) -> func.HttpResponse:  # type: ignore[name-defined] # noqa: F821
        return func.HttpResponse("x")


def _wrong_type(app: func.FunctionApp) -> None:
    @app.service_bus_queue_trigger(arg_name="m", queue_name="q2", connection="C")
    async def wrongtype(m: func.HttpRequest) -> None: ...


def _extra_parameter(app: func.FunctionApp) -> None:
    @app.service_bus_queue_trigger(arg_name="m", queue_name="q3", connection="C")
    async def extra(m: func.ServiceBusMessage, other: int) -> None: ...


def _non_type_return(app: func.FunctionApp) -> None:
    @app.route(route="c")
    async def badreturn(req: func.HttpRequest) -> dict[str, int]:
        return {}


def _bad_context(app: func.FunctionApp) -> None:
    @app.route(route="d")
    async def ctx(req: func.HttpRequest, context: int) -> func.HttpResponse:
        return func.HttpResponse("x")


def _optional_list(app: func.FunctionApp) -> None:
    @app.service_bus_queue_trigger(arg_name="m", queue_name="q4", connection="C", cardinality="many")
    async def optional_list(m: typing.Optional[typing.List[func.ServiceBusMessage]]) -> None: ...  # noqa: UP006, UP045


@pytest.mark.parametrize(
    ("register", "expected"),
    [
        (
            _pep585,
            "pep585: FunctionLoadError: cannot load the pep585 function: binding m has invalid "
            "non-type annotation list[azure.functions._servicebus.ServiceBusMessage]",
        ),
        (_unresolvable, "unresolved: NameError: name 'NoSuchType' is not defined"),
        (
            _wrong_type,
            "wrongtype: FunctionLoadError: cannot load the wrongtype function: 'm' binding type "
            '"serviceBusTrigger" and dataType "None" in function.json do not match the corresponding '
            'function parameter\'s Python type annotation "HttpRequest"',
        ),
        (
            _extra_parameter,
            "extra: FunctionLoadError: cannot load the extra function: the following parameters are "
            "declared in Python but not in function.json: {'other'}",
        ),
        (
            _non_type_return,
            "badreturn: FunctionLoadError: cannot load the badreturn function: has invalid non-type "
            "return annotation dict[str, int]",
        ),
        (
            _bad_context,
            'ctx: FunctionLoadError: cannot load the ctx function: the "context" parameter is expected '
            "to be of type azure.functions.Context, got <class 'int'>",
        ),
        (_optional_list, "optional_list: TypeError: issubclass() arg 1 must be a class"),
    ],
    ids=[
        "pep585-list",
        "unresolvable-string",
        "wrong-type",
        "extra-parameter",
        "non-type-return",
        "context-type",
        "optional",
    ],
)
def test_each_form_the_worker_refuses_is_refused_in_its_words(register: Any, expected: str) -> None:
    app = _app(register)
    assert [str(refusal) for refusal in refusals(app.get_functions())] == [expected]


def test_devhost_refuses_to_start_naming_every_refused_function(tmp_path) -> None:
    def register(app: func.FunctionApp) -> None:
        _pep585(app)
        _wrong_type(app)

        @app.route(route="fine")
        async def fine(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

    with pytest.raises(ConfigurationError) as caught:
        Host.from_app(HostOptions(script_root=tmp_path), _app(register), {})
    message = str(caught.value)
    assert "Azure's Python worker would not load this app" in message
    assert "cannot load the pep585 function: binding m has invalid non-type annotation" in message
    assert "cannot load the wrongtype function" in message
    assert "fine" not in message.replace("function", "")


def test_what_the_worker_accepts_devhost_accepts() -> None:
    def register(app: func.FunctionApp) -> None:
        @app.service_bus_queue_trigger(arg_name="m", queue_name="q", connection="C", cardinality="many")
        async def batch(m: typing.List[func.ServiceBusMessage]) -> None: ...  # noqa: UP006

        @app.service_bus_queue_trigger(arg_name="m", queue_name="q1", connection="C")
        async def single(m: func.ServiceBusMessage, context: func.Context) -> None: ...

        @app.service_bus_queue_trigger(arg_name="m", queue_name="q2", connection="C")
        def as_text(m: str) -> None: ...

        @app.timer_trigger(arg_name="t", schedule="* * * * * *")
        async def untyped(t) -> None: ...  # type: ignore[no-untyped-def]

        @app.timer_trigger(arg_name="t", schedule="*/5 * * * * *")
        async def timer(t: func.TimerRequest) -> None: ...

        @app.route(route="r")
        async def http(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

    app = _app(register)
    functions = app.get_functions()
    assert refusals(functions) == []


def test_the_project_app_passes_the_workers_rules() -> None:
    assert refusals(fresh_app().get_functions()) == []


def test_discover_runs_the_rules_before_building_functions() -> None:
    with pytest.raises(ConfigurationError, match="cannot load the pep585 function"):
        discover(_app(_pep585), {})
