"""The app a devhost subprocess runs in the restart tests: slow, and it records each message.

Each processed message leaves a row in ``devhost_test_processed`` (created by the test), so the
test can prove that every message was processed after a kill and a restart.
"""

from __future__ import annotations

import asyncio
import os

import azure.functions as func
import psycopg

SLEEP = float(os.environ.get("DURABLE_SLEEP", "0.3"))

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="ServiceBusConnection")
async def durable(msg: func.ServiceBusMessage) -> None:
    await asyncio.sleep(SLEEP)
    async with await psycopg.AsyncConnection.connect(os.environ["ServiceBusConnection"]) as conn:
        await conn.execute(
            "INSERT INTO devhost_test_processed (message_id, delivery_count, pid) VALUES (%s, %s, %s)",
            (msg.message_id, msg.delivery_count, os.getpid()),
        )


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
