"""Start-up: settings file, %Setting% resolution, discovery once, host.json, clear errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from devhost.discovery import HttpFunction, QueueFunction, TimerFunction, discover
from devhost.host import Host, HostOptions
from devhost.host_config import load_host_config
from devhost.resolve import resolve_value
from shared.errors import ConfigurationError
from shared.local_settings import load_local_settings
from tests.devhost.apps import http_app
from tests.devhost.apps.queue_app import Recorder, build, build_timer

pytestmark = pytest.mark.unit


def test_local_settings_fill_in_but_never_override_the_environment(tmp_path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file", "FLAG": True, "N": 3}}
        )
    )
    environ = {"A": "from-env"}
    assert sorted(load_local_settings(path, environ)) == ["B", "FLAG", "N"]
    assert environ == {"A": "from-env", "B": "from-file", "FLAG": "true", "N": "3"}
    assert load_local_settings(tmp_path / "missing.json", environ) == []


def test_a_broken_settings_file_is_named(tmp_path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"local\.settings\.json"):
        load_local_settings(path, {})


def test_setting_references_are_resolved() -> None:
    assert resolve_value("%A%-%B%", {"A": "x", "B": "y"}, where="w") == "x-y"
    assert resolve_value("plain", {}, where="w") == "plain"


def test_an_unset_reference_is_a_startup_error_naming_it() -> None:
    app = build_timer(Recorder(), schedule="%SYNC_REPLAY_SCHEDULE%")
    with pytest.raises(ConfigurationError) as caught:
        discover(app, {})
    assert "SYNC_REPLAY_SCHEDULE" in str(caught.value)
    assert "'tick'" in str(caught.value)


def test_queue_names_and_schedules_come_from_settings() -> None:
    [queue] = discover(build(Recorder()), {"WORK_QUEUE": "portal-events"})
    assert isinstance(queue, QueueFunction)
    assert (queue.queue, queue.connection, queue.many) == ("portal-events", "ServiceBusConnection", False)
    [timer] = discover(build_timer(Recorder()), {"TICK": "*/5 * * * * *"})
    assert isinstance(timer, TimerFunction)
    assert (timer.schedule, timer.run_on_startup) == ("*/5 * * * * *", True)


def test_get_functions_is_called_once() -> None:
    class CountingApp(func.FunctionApp):
        calls = 0

        def get_functions(self) -> list[Any]:
            CountingApp.calls += 1
            return super().get_functions()

    app = CountingApp()
    app.register_functions(http_app.blueprint())
    Host.from_app(HostOptions(), app, {})
    assert CountingApp.calls == 1
    with pytest.raises(ValueError, match="unique"):  # a second call would raise: why once matters
        app.get_functions()


def test_http_functions_are_discovered_with_routes_methods_and_auth() -> None:
    found = {f.target.name: f for f in discover(http_app.build(), {})}
    item = found["item"]
    assert isinstance(item, HttpFunction)
    assert (item.route, item.auth_level) == ("items/{id:int}", "function")
    assert item.methods == frozenset({"GET", "POST"})
    anything = found["anything"]
    assert isinstance(anything, HttpFunction)
    assert (anything.route, anything.methods, anything.target.wants_context) == ("any", None, True)
    assert found["files"].target.is_async is False


def test_an_output_binding_is_refused_with_the_function_name() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    @app.service_bus_queue_output(arg_name="out", queue_name="q", connection="ServiceBusConnection")
    def sends(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
        out.set("x")
        return func.HttpResponse("sent")

    with pytest.raises(ConfigurationError, match=r"'sends'.*serviceBus"):
        discover(app, {})


def test_devhost_needs_a_postgres_queue_connection() -> None:
    with pytest.raises(ConfigurationError, match="ServiceBusConnection is not set"):
        Host.from_app(HostOptions(), build(Recorder()), {"WORK_QUEUE": "q"})
    environ = {"WORK_QUEUE": "q", "ServiceBusConnection": "Endpoint=sb://x.servicebus.windows.net/;Key=k"}
    with pytest.raises(ConfigurationError, match="postgresql://"):
        Host.from_app(HostOptions(), build(Recorder()), environ)


def test_host_json_forms_and_defaults(tmp_path) -> None:
    path = tmp_path / "host.json"
    defaults = load_host_config(path)
    assert defaults.route_prefix == "api"
    assert defaults.service_bus.max_message_batch_size == 1000
    assert defaults.service_bus.max_auto_lock_renewal == timedelta(minutes=5)
    path.write_text(
        json.dumps(
            {
                "extensions": {
                    "http": {"routePrefix": ""},
                    "serviceBus": {
                        "maxConcurrentCalls": 8,
                        "maxMessageBatchSize": 50,
                        "maxAutoLockRenewalDuration": "00:10:00",
                        "messageHandlerOptions": {"maxConcurrentCalls": 99},
                    },
                }
            }
        )
    )
    config = load_host_config(path)
    assert config.route_prefix == ""
    assert config.service_bus.max_concurrent_calls == 8  # the v5 form wins
    assert config.service_bus.max_message_batch_size == 50
    assert config.service_bus.max_auto_lock_renewal == timedelta(minutes=10)
    path.write_text(
        json.dumps(
            {
                "extensions": {
                    "serviceBus": {
                        "messageHandlerOptions": {
                            "maxConcurrentCalls": 4,
                            "maxAutoRenewDuration": "00:02:00",
                        },
                        "batchOptions": {"maxMessageCount": 20},
                    }
                }
            }
        )
    )
    old = load_host_config(path).service_bus
    assert (old.max_concurrent_calls, old.max_message_batch_size) == (4, 20)
    assert old.max_auto_lock_renewal == timedelta(minutes=2)
    path.write_text(json.dumps({"extensions": {"serviceBus": {"maxConcurrentCalls": 0}}}))
    with pytest.raises(ConfigurationError, match="maxConcurrentCalls"):
        load_host_config(path)
