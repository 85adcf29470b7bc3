"""HTTP route templates as the Functions host (ASP.NET Core routing) reads them.

Supported: literal segments (case-insensitive), ``{name}``, ``{name:constraint}`` with the
common constraints (int, long, bool, guid, alpha, double, float, decimal, datetime), optional
``{name?}`` (last segment), and catch-all ``{*rest}``/``{**rest}``. An unknown constraint stops
the start. When several routes match, the most specific wins (literal before constrained
before plain parameter before optional before catch-all), as in ASP.NET.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.errors import ConfigurationError

T = TypeVar("T")

_CONSTRAINTS = {
    "int": r"-?\d{1,10}",
    "long": r"-?\d{1,19}",
    "bool": r"(?i:true|false)",
    "guid": r"\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?",
    "alpha": r"[A-Za-z]+",
    "double": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "float": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "datetime": r"[^/]+",
}
_PARAMETER = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$")

# Precedence of a segment kind: lower is more specific.
_LITERAL, _CONSTRAINED, _PLAIN, _OPTIONAL, _CATCH_ALL = range(5)


@dataclass(frozen=True, slots=True)
class Route(Generic[T]):
    """A compiled template and what it leads to."""

    template: str
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]
    literal: str | None
    handler: T

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def compile_route(template: str, handler: T) -> Route[T]:
    """Compile ``template`` (without the route prefix)."""
    segments = template.strip("/").split("/") if template.strip("/") else []
    regex = ""
    precedence: list[int] = []
    all_literal = True
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if "{" not in segment:
            regex += "/" + re.escape(segment)
            precedence.append(_LITERAL)
            continue
        all_literal = False
        match = _PARAMETER.match(segment)
        if match is None:
            raise ConfigurationError(f"route {template!r}: segment {segment!r} is not supported by devhost")
        stars, name, constraint, optional = match.groups()
        if constraint is not None and constraint not in _CONSTRAINTS:
            raise ConfigurationError(f"route {template!r}: unknown constraint {constraint!r}")
        if stars:
            if not last:
                raise ConfigurationError(f"route {template!r}: a catch-all must be the last segment")
            regex += f"(?:/(?P<{name}>.+))?"
            precedence.append(_CATCH_ALL)
            continue
        value = _CONSTRAINTS[constraint] if constraint else r"[^/]+"
        if optional:
            if not last:
                raise ConfigurationError(f"route {template!r}: only the last segment may be optional")
            regex += f"(?:/(?P<{name}>{value}))?"
            precedence.append(_OPTIONAL)
        else:
            regex += f"/(?P<{name}>{value})"
            precedence.append(_CONSTRAINED if constraint else _PLAIN)
    return Route(
        template=template,
        pattern=re.compile(f"^{regex}/?$", re.IGNORECASE),
        precedence=tuple(precedence),
        literal=("/" + "/".join(segments)).lower() if all_literal else None,
        handler=handler,
    )


class RouteTable(Generic[T]):
    """Routes by specificity; a literal route is one dict look-up (the webhook's hot path)."""

    def __init__(self, routes: list[Route[T]]) -> None:
        self.routes = sorted(routes, key=lambda r: (r.precedence, -len(r.precedence)))
        self._literal: dict[str, list[Route[T]]] = {}
        for route in self.routes:
            if route.literal is not None:
                self._literal.setdefault(route.literal, []).append(route)

    def candidates(self, path: str) -> Iterator[tuple[Route[T], dict[str, str]]]:
        """Routes matching ``path`` (``/segment/...``, no prefix), most specific first, lazily."""
        for route in self._literal.get(path.rstrip("/").lower() or "/", ()):
            yield route, {}
        for route in self.routes:
            if route.literal is None:
                params = route.match(path)
                if params is not None:
                    yield route, params
