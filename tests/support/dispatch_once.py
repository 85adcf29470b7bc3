"""``python -m tests.support.dispatch_once COMMAND_JSON``: one sync_dispatcher worker handling one
ATS command, in its own process, so a test can kill it (SIGKILL) in the middle of the portal call.

Settings come from the environment, as in a worker.
"""

from __future__ import annotations

import asyncio
import os
import sys

from shared.queued import QueuedMessage
from shared.runtime import Runtime


async def main(body: str) -> None:
    runtime = await Runtime.from_environ(os.environ)
    try:
        print("started", flush=True)
        await runtime.dispatcher.handle(QueuedMessage(body=body.encode(), message_id="killed-worker"))
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
