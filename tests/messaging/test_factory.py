"""The adapter is chosen by the form of ``ServiceBusConnection``, never by the sender's caller."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.errors import ConfigurationError
from shared.messaging import create_message_sender
from shared.messaging.factory import choose_transport
from shared.messaging.pg_queue import PgQueueSender
from shared.messaging.servicebus import ServiceBusSender

pytestmark = pytest.mark.unit

CONNECTION_STRING = (
    "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=send;"
    "SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ=="
)


@dataclass
class FakeSettings:
    service_bus_connection: str | None = None
    service_bus_namespace: str | None = None


@pytest.mark.parametrize(
    ("values", "kind", "target"),
    [
        ({"ServiceBusConnection": CONNECTION_STRING}, "servicebus-connection-string", CONNECTION_STRING),
        (
            {"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net"},
            "servicebus-namespace",
            "ns.servicebus.windows.net",
        ),
        (
            {"ServiceBusConnection__fullyQualifiedNamespace": "sb://ns.servicebus.windows.net/"},
            "servicebus-namespace",
            "ns.servicebus.windows.net",
        ),
        ({"ServiceBusConnection": "postgresql://u@h/db"}, "postgres", "postgresql://u@h/db"),
        ({"ServiceBusConnection": "postgres://u@h/db"}, "postgres", "postgres://u@h/db"),
        (
            {
                "ServiceBusConnection": "postgresql://u@h/db",
                "ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net",
            },
            "postgres",
            "postgresql://u@h/db",
        ),
    ],
)
def test_form_decides_the_adapter(values, kind, target) -> None:
    transport = choose_transport(values)
    assert (transport.kind, transport.target) == (kind, target)


def test_settings_object_is_accepted() -> None:
    assert choose_transport(FakeSettings(service_bus_connection="postgresql://h/db")).kind == "postgres"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"ServiceBusConnection": "   "},
        {"ServiceBusConnection": "amqp://secret-value@host"},
        {"ServiceBusConnection__fullyQualifiedNamespace": "ns/with/path"},
    ],
)
def test_anything_else_is_a_configuration_error_naming_the_setting(values) -> None:
    with pytest.raises(ConfigurationError, match="ServiceBusConnection") as caught:
        choose_transport(values)
    assert "secret-value" not in str(caught.value)


async def test_factory_builds_each_adapter_without_connecting() -> None:
    pg = await create_message_sender({"ServiceBusConnection": "postgresql://postgres@127.0.0.1:1/x"})
    assert isinstance(pg, PgQueueSender)
    await pg.close()
    sb = await create_message_sender(FakeSettings(service_bus_connection=CONNECTION_STRING))
    assert isinstance(sb, ServiceBusSender)
    await sb.close()
    mi = await create_message_sender(
        {"ServiceBusConnection__fullyQualifiedNamespace": "ns.servicebus.windows.net"}
    )
    assert isinstance(mi, ServiceBusSender)
    await mi.close()
