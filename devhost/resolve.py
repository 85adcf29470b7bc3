"""``%Setting%`` references in binding values, resolved from the environment as the host does.

The Functions host resolves ``%NAME%`` in binding attributes (queue names, schedules, ...) from
app settings only, with no default: an unset setting stops the host at start. devhost does the
same, with an error naming the function, the binding property and the missing setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.errors import ConfigurationError

_REFERENCE = re.compile(r"%([^%\s]+)%")


def resolve_value(value: str, environ: Mapping[str, str], *, where: str) -> str:
    """Replace every ``%NAME%`` in ``value``; raise naming ``where`` and NAME when unset."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        setting = environ.get(name)
        if setting is None or setting == "":
            raise ConfigurationError(
                f"{where} refers to %{name}%, but the setting {name} is not set "
                "(set it in the environment or in local.settings.json Values)"
            )
        return setting

    return _REFERENCE.sub(substitute, value)


def resolve_binding(
    binding: Mapping[str, Any], environ: Mapping[str, str], *, function: str
) -> dict[str, Any]:
    """A copy of ``binding`` with every string value (and string in a list) resolved."""
    resolved: dict[str, Any] = {}
    for key, value in binding.items():
        where = f"function {function!r}, binding {binding.get('type')!r} property {key!r}"
        if isinstance(value, str):
            resolved[key] = resolve_value(value, environ, where=where)
        elif isinstance(value, list):
            resolved[key] = [
                resolve_value(item, environ, where=where) if isinstance(item, str) else item for item in value
            ]
        else:
            resolved[key] = value
    return resolved
