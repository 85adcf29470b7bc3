"""Running ``python -m devhost`` as a real subprocess, as a developer does."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def devhost_environ(**values: str) -> dict[str, str]:
    """The current environment without any queue settings, plus ``values``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ServiceBusConnection")}
    environ.pop("SYNC_REPLAY_SCHEDULE", None)
    environ.update(values)
    return environ


class DevhostProcess:
    """``python -m devhost start ...``; :meth:`started` waits for the banner."""

    def __init__(self, args: list[str], environ: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.environ = environ
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.banner = ""

    async def start(self, timeout: float = 15.0) -> DevhostProcess:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "devhost",
                "start",
                *self.args,
                cwd=REPO,
                env=self.environ,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        lines: list[str] = []

        async def read_banner() -> None:
            assert self.proc is not None
            assert self.proc.stdout is not None
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"devhost exited before starting:\n{self.log_path.read_text()}")
                lines.append(line)
                if line.startswith("Host started"):
                    return

        await asyncio.wait_for(read_banner(), timeout)
        self.banner = "".join(lines)
        return self

    async def stop(self, sig: int, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout)
