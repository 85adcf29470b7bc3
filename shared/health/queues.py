"""How many messages wait on each queue and its dead-letter queue: the :class:`QueueDepths` port.

The adapter follows the transport, chosen by the form of ``ServiceBusConnection`` as the sender
is (:func:`create_queue_depths`):

* locally, devhost's tables (``devhost.messages``; a dead letter sits on ``QUEUE/$deadletterqueue``);
* in Azure, each queue's runtime properties through ``ServiceBusAdministrationClient``
  (the identity needs the "Azure Service Bus Data Owner" role: reading an entity's properties
  is a management operation, which the Data Sender and Receiver roles do not allow).

The SDK sits behind the small :class:`AdminClientLike` seam, so the adapter's logic (one call per
queue, concurrently; errors named by queue and translated into :class:`DependencyUnavailable`)
is tested with a fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from shared.errors import DependencyUnavailable
from shared.messaging.factory import choose_transport
from shared.messaging.pg_pool import QueuePool
from shared.messaging.pg_receiver import dead_letter_queue
from shared.messaging.port import QUEUES


@dataclass(frozen=True, slots=True)
class QueueDepth:
    queue: str
    active: int  # deliverable now, or locked by a consumer
    scheduled: int  # waiting for their scheduled time (re-sends with backoff)
    dead_letters: int

    def as_dict(self) -> dict[str, int]:
        return {"active": self.active, "scheduled": self.scheduled, "dead_letters": self.dead_letters}


class QueueDepths(Protocol):
    async def depths(self, queues: Sequence[str] = QUEUES) -> dict[str, QueueDepth]:
        """Every queue's depth; raises :class:`DependencyUnavailable` if the transport does not answer."""
        ...

    async def close(self) -> None: ...


DEPTHS = """
SELECT queue,
       count(*) FILTER (WHERE scheduled_enqueue_time IS NULL OR scheduled_enqueue_time <= now()) AS active,
       count(*) FILTER (WHERE scheduled_enqueue_time > now()) AS scheduled
FROM devhost.messages
WHERE queue = ANY(%s)
GROUP BY queue
"""


class PgQueueDepths:
    """devhost's queues: one grouped count over the queues and their dead-letter queues."""

    def __init__(self, pool: QueuePool, *, owns_pool: bool = False) -> None:
        self._pool = pool
        self._owns_pool = owns_pool

    async def depths(self, queues: Sequence[str] = QUEUES) -> dict[str, QueueDepth]:
        names = [*queues, *(dead_letter_queue(q) for q in queues)]
        async with self._pool.connection() as conn:
            cursor = await conn.execute(DEPTHS, (names,))
            counts = {row[0]: (int(row[1]), int(row[2])) for row in await cursor.fetchall()}
        return {
            q: QueueDepth(
                q,
                active=counts.get(q, (0, 0))[0],
                scheduled=counts.get(q, (0, 0))[1],
                dead_letters=sum(counts.get(dead_letter_queue(q), (0, 0))),
            )
            for q in queues
        }

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()


class RuntimePropertiesLike(Protocol):
    """What we read of ``azure.servicebus.management.QueueRuntimeProperties``."""

    @property
    def active_message_count(self) -> int | None: ...

    @property
    def scheduled_message_count(self) -> int | None: ...

    @property
    def dead_letter_message_count(self) -> int | None: ...


class AdminClientLike(Protocol):
    """What we use of ``azure.servicebus.aio.management.ServiceBusAdministrationClient``."""

    async def get_queue_runtime_properties(self, queue_name: str, **kwargs: Any) -> Any: ...

    async def close(self) -> None: ...


class ServiceBusQueueDepths:
    """Service Bus: each queue's runtime properties, read concurrently."""

    def __init__(self, client: AdminClientLike, *, credential: Any = None) -> None:
        self._client = client
        self._credential = credential

    @classmethod
    def from_connection_string(cls, connection_string: str) -> ServiceBusQueueDepths:
        from azure.servicebus.aio.management import ServiceBusAdministrationClient

        return cls(ServiceBusAdministrationClient.from_connection_string(connection_string))

    @classmethod
    def from_namespace(cls, fully_qualified_namespace: str) -> ServiceBusQueueDepths:
        from azure.identity.aio import DefaultAzureCredential
        from azure.servicebus.aio.management import ServiceBusAdministrationClient

        credential = DefaultAzureCredential()
        return cls(
            ServiceBusAdministrationClient(fully_qualified_namespace, credential), credential=credential
        )

    async def _one(self, queue: str) -> QueueDepth:
        try:
            props: RuntimePropertiesLike = await self._client.get_queue_runtime_properties(queue)
        except ClientAuthenticationError as exc:
            raise DependencyUnavailable(
                f"Service Bus refused to read queue {queue!r}'s counts: the identity needs the "
                "'Azure Service Bus Data Owner' role on the namespace"
            ) from exc
        except HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise DependencyUnavailable(
                    f"Service Bus refused to read queue {queue!r}'s counts ({exc.status_code}): the "
                    "identity needs the 'Azure Service Bus Data Owner' role on the namespace"
                ) from exc
            raise DependencyUnavailable(
                f"Service Bus could not read queue {queue!r}'s counts ({exc.status_code})"
            ) from exc
        except (AzureError, OSError) as exc:
            raise DependencyUnavailable(
                f"Service Bus unreachable reading queue {queue!r}'s counts: {type(exc).__name__}"
            ) from exc
        return QueueDepth(
            queue,
            active=props.active_message_count or 0,
            scheduled=props.scheduled_message_count or 0,
            dead_letters=props.dead_letter_message_count or 0,
        )

    async def depths(self, queues: Sequence[str] = QUEUES) -> dict[str, QueueDepth]:
        found = await asyncio.gather(*(self._one(q) for q in queues))
        return {depth.queue: depth for depth in found}

    async def close(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()


def create_queue_depths(settings: Any, *, pool: QueuePool | None = None) -> QueueDepths:
    """The adapter for ``ServiceBusConnection``'s transport; ``pool`` reuses the sender's own
    pool on devhost's queues (nothing connects until the first read)."""
    transport = choose_transport(settings)
    if transport.kind == "postgres":
        if pool is not None:
            return PgQueueDepths(pool)
        return PgQueueDepths(QueuePool(transport.target, max_size=2), owns_pool=True)
    if transport.kind == "servicebus-connection-string":
        return ServiceBusQueueDepths.from_connection_string(transport.target)
    return ServiceBusQueueDepths.from_namespace(transport.target)


def depths_as_dict(depths: Mapping[str, QueueDepth]) -> dict[str, dict[str, int]]:
    return {name: depth.as_dict() for name, depth in depths.items()}
