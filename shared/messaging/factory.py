"""Choose the :class:`MessageSender` adapter by the form of ``ServiceBusConnection``.

The code that sends never knows which transport it talks to; the deployment decides through
one setting, as the Functions host does for the trigger's ``connection``:

=====================================================  ====================================
``ServiceBusConnection``                               adapter
=====================================================  ====================================
``Endpoint=sb://…;SharedAccessKeyName=…``              Service Bus, connection string
unset, ``ServiceBusConnection__fullyQualifiedNamespace`` Service Bus, ``DefaultAzureCredential``
``postgresql://…`` or ``postgres://…``                 local PostgreSQL queues (devhost)
=====================================================  ====================================

Anything else is a :class:`ConfigurationError` naming the setting (never echoing its value,
which may hold a key). The operator's :class:`DeadLetterQueues` is chosen the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from shared.errors import ConfigurationError
from shared.messaging.pg_pool import POSTGRES_SCHEMES
from shared.messaging.port import MessageSender

if TYPE_CHECKING:
    # Only a type here: the dead-letter modules import shared.redelivery, which imports this
    # package; the adapters are imported when built, as the senders are.
    from shared.messaging.dead_letters import DeadLetterQueues

CONNECTION_SETTING = "ServiceBusConnection"
NAMESPACE_SETTING = "ServiceBusConnection__fullyQualifiedNamespace"


class _HasServiceBusSettings(Protocol):
    @property
    def service_bus_connection(self) -> str | None: ...

    @property
    def service_bus_namespace(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Transport:
    """Which adapter to build, and the value it is built from."""

    kind: Literal["servicebus-connection-string", "servicebus-namespace", "postgres"]
    target: str


def _values(source: _HasServiceBusSettings | Mapping[str, str]) -> tuple[str, str]:
    if isinstance(source, Mapping):
        return source.get(CONNECTION_SETTING) or "", source.get(NAMESPACE_SETTING) or ""
    return source.service_bus_connection or "", source.service_bus_namespace or ""


def choose_transport(source: _HasServiceBusSettings | Mapping[str, str]) -> Transport:
    """Decide the adapter from the settings object or an environment-like mapping."""
    connection, namespace = (value.strip() for value in _values(source))
    if connection:
        if connection.lower().startswith("endpoint=sb://"):
            return Transport("servicebus-connection-string", connection)
        if connection.startswith(POSTGRES_SCHEMES):
            return Transport("postgres", connection)
        raise ConfigurationError(
            f"{CONNECTION_SETTING} must be a Service Bus connection string (Endpoint=sb://…) or a "
            f"postgresql:// URL for the local queues; leave it unset and set {NAMESPACE_SETTING} to "
            "use a managed identity"
        )
    if namespace:
        host = namespace.removeprefix("sb://").rstrip("/")
        if not host or "/" in host or ";" in host:
            raise ConfigurationError(
                f"{NAMESPACE_SETTING} must be a host name like myns.servicebus.windows.net"
            )
        return Transport("servicebus-namespace", host)
    raise ConfigurationError(f"{CONNECTION_SETTING} (or {NAMESPACE_SETTING}) is not set")


async def create_message_sender(source: _HasServiceBusSettings | Mapping[str, str]) -> MessageSender:
    """Build the sender for these settings. Nothing connects until the first send."""
    transport = choose_transport(source)
    if transport.kind == "postgres":
        from shared.messaging.pg_queue import PgQueueSender

        return PgQueueSender(transport.target)
    from shared.messaging.servicebus import ServiceBusSender

    if transport.kind == "servicebus-connection-string":
        return ServiceBusSender.from_connection_string(transport.target)
    return ServiceBusSender.from_namespace(transport.target)


async def create_dead_letter_queues(source: _HasServiceBusSettings | Mapping[str, str]) -> DeadLetterQueues:
    """Build the dead-letter adapter for these settings (the operator CLI's; never the app's)."""
    transport = choose_transport(source)
    if transport.kind == "postgres":
        from shared.messaging.pg_dead_letters import PgDeadLetterQueues

        return PgDeadLetterQueues(transport.target)
    from shared.messaging.servicebus_dead_letters import ServiceBusDeadLetterQueues

    if transport.kind == "servicebus-connection-string":
        return ServiceBusDeadLetterQueues.from_connection_string(transport.target)
    return ServiceBusDeadLetterQueues.from_namespace(transport.target)
