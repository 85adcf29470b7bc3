"""Run ``python -m ops`` in this process, as an operator would, and read what it printed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.cli import run


@dataclass(frozen=True)
class OpsRun:
    status: int
    out: str
    err: str

    @property
    def data(self) -> Any:
        return json.loads(self.out)

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class Ops:
    """``await ops("events", "list", "--json")``: the exit status and both outputs.

    ``environ`` is the only environment the command sees, and no ``local.settings.json`` is
    read unless a test passes ``settings_file`` (the checkout's own may exist)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], environ: Mapping[str, str]) -> None:
        self.capsys = capsys
        self.environ = dict(environ)

    async def __call__(
        self, *argv: str, environ: Mapping[str, str] | None = None, settings_file: Path | None = None
    ) -> OpsRun:
        self.capsys.readouterr()
        status = await run(
            argv, environ=self.environ if environ is None else environ, settings_file=settings_file
        )
        out, err = self.capsys.readouterr()
        return OpsRun(status, out, err)
