"""Where the test run finds PostgreSQL, Redis and Azurite, and a precise failure when it cannot.

`make test` starts or finds the services and exports their addresses; run directly, pytest uses
the usual local ports. A missing service fails the run (never skips) with how to start it.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AZURITE_BLOB_PORT = int(os.environ.get("TEST_AZURITE_BLOB_PORT", "10000"))
AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    f"BlobEndpoint=http://127.0.0.1:{AZURITE_BLOB_PORT}/devstoreaccount1;"
    f"QueueEndpoint=http://127.0.0.1:{AZURITE_BLOB_PORT + 1}/devstoreaccount1;"
    f"TableEndpoint=http://127.0.0.1:{AZURITE_BLOB_PORT + 2}/devstoreaccount1;"
)

HOW_TO_START = {
    "PostgreSQL": "run `make test` (it finds or starts one), or start the server: "
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; "
    "or point TEST_POSTGRES_URL at one",
    "Redis": "run `make test` (it finds or starts one), or start one: "
    "redis-server --daemonize yes --port 6379 --save ''; or point TEST_REDIS_URL at one",
    "Azurite": "run `make test` (it starts Azurite from node_modules), or: "
    "npx azurite --silent --location .local/azurite --skipApiVersionCheck --disableTelemetry",
}


def require_tcp(service: str, url_or_port: str | int) -> None:
    """Fail the test run, naming the service and how to start it, if nothing listens."""
    if isinstance(url_or_port, int):
        host, port = "127.0.0.1", url_or_port
    else:
        parts = urlsplit(url_or_port)
        host, port = (
            parts.hostname or "127.0.0.1",
            parts.port or {"postgresql": 5432, "redis": 6379}[parts.scheme],
        )
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(
            f"{service} is not reachable at {host}:{port} ({exc.strerror or exc}). {HOW_TO_START[service]}",
            pytrace=False,
        )
