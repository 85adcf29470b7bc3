"""Load ``local.settings.json`` ``Values`` into an environment, as Core Tools does.

A variable already set in the environment wins over the file (so a test, CI or a shell export
can always override a value). devhost runs this before the app module is imported, because the
app may read settings at import time; the operator CLI (``python -m ops``) runs it on a copy of
its environment, so a command run from a checkout reads the same settings as the local app.
It lives in ``shared/`` so that both can use it without importing each other.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

from shared.errors import ConfigurationError
from shared.settings import is_set


def load_local_settings(path: Path, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Copy the file's ``Values`` into ``environ`` where unset; return the names it set.

    An empty value on either side means "not set" (DESIGN.md): an empty variable in the
    environment does not hide the file's value, and an empty value in the file sets nothing.
    A missing file sets nothing. A file that is not valid JSON, or whose ``Values`` is not an
    object of scalars, is a :class:`ConfigurationError` naming the file.
    """
    target = os.environ if environ is None else environ
    if not path.is_file():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid JSON: {exc}") from None
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise ConfigurationError(f'{path}: "Values" must be an object of setting names to values')
    applied: list[str] = []
    for name, value in values.items():
        if isinstance(value, dict | list):
            raise ConfigurationError(f"{path}: Values.{name} must be a string, number or boolean")
        if value is None or not is_set(str(value)) or is_set(target.get(name)):
            continue
        target[name] = str(value).lower() if isinstance(value, bool) else str(value)
        applied.append(name)
    return applied
