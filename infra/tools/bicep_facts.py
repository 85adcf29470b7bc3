"""Parse every Bicep file under a directory with pycep-parser and print what the tests check.

Run by the IaC virtual environment (``.venv/iac``, ``requirements-iac.txt``), not the
app's: checkov pins its own pycep-parser, and checkov's pins conflict with the app's. Exits 1
naming each file that does not parse. Prints JSON::

    {"files": ["main.bicep", ...],
     "variables": {"modules/servicebus.bicep": {"queueNames": [...]}, ...},
     "resources": {"modules/servicebus.bicep": {"queues": {"type": ..., "loop_over": "queueNames"}}}}

Only literal values survive in ``variables`` (expressions are parsed into pycep's own shapes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pycep import BicepParser


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _resource(resource: dict[str, Any]) -> dict[str, Any]:
    config = resource.get("config") or {}
    loop = config.get("loop_type") if isinstance(config, dict) else None
    loop_over = None
    if isinstance(loop, dict):
        loop_over = (loop.get("detail") or {}).get("array_name")
    return {"type": resource.get("type"), "api_version": resource.get("api_version"), "loop_over": loop_over}


def facts(root: Path) -> tuple[dict[str, Any], list[str]]:
    found: dict[str, Any] = {"files": [], "variables": {}, "resources": {}}
    errors: list[str] = []
    for path in sorted(root.rglob("*.bicep")):
        name = path.relative_to(root).as_posix()
        try:
            tree = BicepParser().parse(file_path=path)
        except Exception as exc:  # pycep raises lark's errors; each names the line
            errors.append(f"{name}: {str(exc).splitlines()[0]}")
            continue
        found["files"].append(name)
        found["variables"][name] = {
            var: _clean(body.get("value")) for var, body in (tree.get("variables") or {}).items()
        }
        found["resources"][name] = {
            symbol: _resource(body) for symbol, body in (tree.get("resources") or {}).items()
        }
    return found, errors


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "infra")
    found, errors = facts(root)
    for error in errors:
        print(f"bicep: does not parse: {error}", file=sys.stderr)
    if not found["files"]:
        print(f"bicep: no .bicep file under {root}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=1, default=str))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
