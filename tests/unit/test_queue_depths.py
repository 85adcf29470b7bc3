"""The Service Bus queue-depth adapter's logic, against a fake administration client that hands
out the SDK's own runtime-properties objects (the SDK call itself is the only part not run)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.servicebus.management import QueueRuntimeProperties
from azure.servicebus.management._generated.models import MessageCountDetails, QueueDescription

from shared.errors import DependencyUnavailable
from shared.health.queues import PgQueueDepths, ServiceBusQueueDepths, create_queue_depths
from shared.messaging.port import QUEUES


def properties(name: str, active: int, scheduled: int, dead: int) -> QueueRuntimeProperties:
    counts = MessageCountDetails(
        active_message_count=active, scheduled_message_count=scheduled, dead_letter_message_count=dead
    )
    return QueueRuntimeProperties._from_internal_entity(name, QueueDescription(message_count_details=counts))


class FakeAdmin:
    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.closed = False

    async def get_queue_runtime_properties(self, queue_name: str, **kwargs: object) -> object:
        self.asked.append(queue_name)
        answer = self.answers[queue_name]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        self.closed = True


async def test_every_queue_is_read_and_its_counts_kept():
    admin = FakeAdmin({q: properties(q, n, n + 1, n + 2) for n, q in enumerate(QUEUES)})
    depths = await ServiceBusQueueDepths(admin).depths()
    assert sorted(admin.asked) == sorted(QUEUES)
    assert {q: d.as_dict() for q, d in depths.items()} == {
        q: {"active": n, "scheduled": n + 1, "dead_letters": n + 2} for n, q in enumerate(QUEUES)
    }


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (ClientAuthenticationError("no"), "'Azure Service Bus Data Owner' role"),
        (HttpResponseError(message="forbidden", response=None), "could not read queue"),
        (ServiceRequestError("dns"), "unreachable reading queue"),
    ],
)
async def test_a_refusal_or_an_outage_names_the_queue_and_what_to_check(error, says):
    admin = FakeAdmin({q: properties(q, 0, 0, 0) for q in QUEUES} | {"ats-outbound": error})
    with pytest.raises(DependencyUnavailable, match=says) as caught:
        await ServiceBusQueueDepths(admin).depths()
    assert "ats-outbound" in str(caught.value)


async def test_a_403_answer_names_the_role():
    forbidden = HttpResponseError(message="forbidden")
    forbidden.status_code = 403
    admin = FakeAdmin(dict.fromkeys(QUEUES, forbidden))
    with pytest.raises(DependencyUnavailable, match="Data Owner"):
        await ServiceBusQueueDepths(admin).depths(["portal-events"])


async def test_closing_closes_the_client():
    admin = FakeAdmin({})
    await ServiceBusQueueDepths(admin).close()
    assert admin.closed


async def test_the_adapter_follows_the_transport():
    local = create_queue_depths({"ServiceBusConnection": "postgresql://u@h:5432/db"})
    assert isinstance(local, PgQueueDepths)
    azure = create_queue_depths(
        {
            "ServiceBusConnection": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=a2V5"
        }
    )
    assert isinstance(azure, ServiceBusQueueDepths)
    await azure.close()
    await local.close()
