"""`make run`: start the portal simulator (unless another portal is configured) and devhost.

Settings come from the environment first, then ``local.settings.json`` (as devhost reads them),
so the simulator signs with the same webhook secret and expects the same API key as the app.
Ctrl-C stops both; devhost finishes or abandons in-flight messages so nothing is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from shared.settings import is_set

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR_URL = "http://127.0.0.1:7072"
APP_URL = "http://127.0.0.1:7071"


def settings() -> dict[str, str]:
    """The environment over ``local.settings.json``, empty values meaning unset on both sides."""
    local = ROOT / "local.settings.json"
    file_values = json.loads(local.read_text()).get("Values", {}) if local.exists() else {}
    merged = {name: str(value) for name, value in file_values.items() if is_set(str(value))}
    merged.update({name: value for name, value in os.environ.items() if is_set(value)})
    return merged


def wait_http(url: str, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            time.sleep(0.3)
    return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # SIGTERM (a supervisor, `timeout`, a test) stops everything as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    children: list[subprocess.Popen[bytes]] = []
    try:
        start(children)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop(children)
    return max((child.returncode or 0) for child in children) if children else 1


def start(children: list[subprocess.Popen[bytes]]) -> None:
    """Start the simulator (unless another portal is configured) and devhost, each in a session
    of its own: a terminal's Ctrl-C reaches this script only, which stops each child once."""
    values = settings()
    portal = values.get("PORTAL_BASE_URL", SIMULATOR_URL).rstrip("/")
    if urlsplit(portal).netloc == urlsplit(SIMULATOR_URL).netloc:
        env = {
            **os.environ,
            "PORTAL_API_KEY": values.get("PORTAL_API_KEY", ""),
            "PORTAL_WEBHOOK_SECRETS": values.get("PORTAL_WEBHOOK_SECRETS", ""),
        }
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "portal_simulator",
                    "serve",
                    "--port",
                    "7072",
                    "--ats-url",
                    f"{APP_URL}/api/portal/webhooks",
                    "--public-url",
                    SIMULATOR_URL,
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
        )
        if wait_http(f"{SIMULATOR_URL}/v1/health", 20) is None:
            print("[run] the portal simulator did not start; see its output above", file=sys.stderr)
    else:
        print(f"[run] PORTAL_BASE_URL is {portal}: not starting the simulator")
    children.append(subprocess.Popen([sys.executable, "-m", "devhost"], cwd=ROOT, start_new_session=True))
    status = wait_http(f"{APP_URL}/api/health/ready", 60)
    print(
        "\n[run] the app is up:\n"
        f"  webhooks      POST {APP_URL}/api/portal/webhooks\n"
        f"  bulk import   POST {APP_URL}/api/portal/candidates/import\n"
        f"  liveness      GET  {APP_URL}/api/health\n"
        f"  readiness     GET  {APP_URL}/api/health/ready   (answered {status})\n"
        f"  portal        {portal}\n"
        "  try:          make demo   (in another terminal)\n"
        "  stop:         Ctrl-C\n",
        flush=True,
    )


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    """One SIGINT to each child still running (devhost finishes or abandons what it holds, so
    nothing queued is lost), then wait; a child that will not stop is killed."""
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in reversed(children):
        try:
            child.wait(timeout=45)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    raise SystemExit(main())
