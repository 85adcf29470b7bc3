"""Serving the simulator with uvicorn: on a configured port (the CLI) or on an already bound
socket (the test handle, which binds port 0 to get an ephemeral port).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

import uvicorn

from portal_simulator.app import build_app
from portal_simulator.simulator import Simulator

GRACEFUL_SHUTDOWN_SECONDS = 2


def make_server(
    simulator: Simulator, *, log_level: str = "warning", graceful_seconds: float | None = None
) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(simulator),
        lifespan="on",
        log_level=log_level,
        access_log=log_level in ("debug", "trace"),
        http="h11",
        timeout_graceful_shutdown=int(graceful_seconds or GRACEFUL_SHUTDOWN_SECONDS),
    )
    return uvicorn.Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol says TCP, and without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def serve_forever(simulator: Simulator, *, log_level: str = "info") -> None:
    """Run until interrupted (Ctrl+C or SIGTERM): the ``serve`` command."""
    config = simulator.config
    sock = bind(config.host, config.port)
    logging.getLogger("portal_simulator").info(
        "portal simulator on http://%s:%d (public %s), webhooks to %s",
        config.host,
        config.port,
        simulator.state.public_url,
        config.ats_url,
    )
    # uvicorn captures SIGINT/SIGTERM while it serves and re-raises them once it has shut down
    # gracefully. With Python's default SIGINT handler that re-raise becomes a KeyboardInterrupt
    # inside the loop, which cancels the lifespan task and logs a traceback; handlers that only
    # note the signal make a Ctrl-C (it reaches this process and `make run` alike) a clean stop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _after_shutdown)
    asyncio.run(make_server(simulator, log_level=log_level).serve(sockets=[sock]))
    logging.getLogger("portal_simulator").info("portal simulator stopped")


def _after_shutdown(signum: int, frame: object) -> None:
    """Takes the signal uvicorn re-raises after its graceful shutdown: nothing left to do."""
