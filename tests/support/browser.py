"""A real headless Chromium for page tests: Debian's ``chromium``, driven by Playwright.

``make test`` installs the package (``apt-get install chromium``) or stops naming it; Playwright's
own browser download (``playwright install``) is never used. Each test gets a fresh profile.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",  # tests run as root in CI containers, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> Path:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail(
            "Chromium is missing: install Debian's package with `apt-get install -y chromium` "
            "(make test does it when run as root)",
            pytrace=False,
        )
    return CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or CHROMIUM)


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[BrowserContext]:
    executable = require_chromium()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 1400},
        )
        try:
            yield context
        finally:
            await context.close()
