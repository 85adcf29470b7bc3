"""Trigger data as the Python worker hands it to functions (``azure.functions`` types).

A queue message becomes an ``azure.functions.ServiceBusMessage`` with the properties the
worker sets (``message_id``, ``delivery_count``, ``enqueued_time_utc``, lock token, ...), or its
body as ``str``/``bytes`` when the parameter is annotated that way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from devhost.discovery import ArgKind
from shared.messaging.pg_receiver import ReceivedMessage


def service_bus_message(message: ReceivedMessage) -> ServiceBusMessage:
    properties: dict[str, Any] = dict(message.application_properties)
    metadata: dict[str, Any] = {
        "MessageId": message.message_id,
        "DeliveryCount": message.delivery_count,
        "EnqueuedTimeUtc": message.enqueued_time.isoformat(),
        "SequenceNumber": message.sequence_number,
        "LockToken": str(message.lock_token) if message.lock_token else None,
        "ContentType": message.content_type,
        "ApplicationProperties": properties,
        "UserProperties": properties,
    }
    return ServiceBusMessage(
        body=message.body,
        trigger_metadata=metadata,
        application_properties=properties,
        user_properties=properties,
        content_type=message.content_type,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time,
        locked_until=message.locked_until,
        lock_token=str(message.lock_token) if message.lock_token else None,
        message_id=message.message_id,
        sequence_number=message.sequence_number,
        dead_letter_source=message.dead_letter_source,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=message.dead_letter_description,
    )


def queue_argument(message: ReceivedMessage, kind: ArgKind) -> Any:
    if kind == "bytes":
        return message.body
    if kind == "str":
        return message.body.decode("utf-8")
    return service_bus_message(message)


def timer_request(past_due: bool, scheduled: datetime | None, next_run: datetime | None) -> TimerRequest:
    return TimerRequest(
        past_due=past_due,
        schedule_status={
            "Last": scheduled.isoformat() if scheduled else None,
            "Next": next_run.isoformat() if next_run else None,
        },
    )
