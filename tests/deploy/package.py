"""The deployment package: the project's files as `.funcignore` filters them.

Two readers of `.funcignore` matter and they disagree on its syntax, so the tests apply both:

- Azure Functions Core Tools (`func azure functionapp publish`, `func pack`): it always leaves
  out the folders `.git` and `.vscode` and the files `.funcignore`, `.gitignore`,
  `local.settings.json` and `project.lock.json` wherever they are; then each non-comment line
  becomes a regular expression matched against the *start* of the path from the project root (a
  leading "/" is dropped, "**" matches across folders, "*" within one, every other character
  stands for itself, and a line starting with "!" takes a path back). It is not gitignore: a
  bare "tests" would also drop a root file "tests_x.py", and "__pycache__/" only a root folder.
- gitignore syntax proper (azd, and what the documentation promises), through `pathspec`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

REPO = Path(__file__).resolve().parents[2]
FUNCIGNORE = REPO / ".funcignore"

#: Left out by Core Tools whatever `.funcignore` says (matched by name, at any depth).
CORE_TOOLS_SKIPPED_FOLDERS = frozenset({".git", ".vscode"})
CORE_TOOLS_SKIPPED_FILES = frozenset(
    {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}
)

#: Characters Core Tools escapes before turning "*" and "**" into expressions.
_LITERAL = re.compile(r"[-\[\]/{}()+?.\\^$|]")


def _core_tools_expression(pattern: str) -> str:
    escaped = _LITERAL.sub(lambda match: "\\" + match.group(0), pattern)
    return escaped.replace("**", "(.+)").replace("*", "([^/]+)")


@dataclass(frozen=True, slots=True)
class CoreToolsIgnore:
    """`.funcignore` as Core Tools reads it."""

    take: re.Pattern[str] | None
    keep: re.Pattern[str] | None

    @classmethod
    def parse(cls, text: str) -> CoreToolsIgnore:
        take: list[str] = []
        keep: list[str] = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line.removeprefix("!").removeprefix("/")
            (keep if negated else take).append(_core_tools_expression(line))

        def compiled(expressions: list[str]) -> re.Pattern[str] | None:
            return re.compile("^((" + ")|(".join(sorted(expressions)) + "))") if expressions else None

        return cls(take=compiled(take), keep=compiled(keep))

    def accepts(self, path: str) -> bool:
        if self.keep is not None and self.keep.match(path):
            return True
        return self.take is None or not self.take.match(path)


def _skipped_by_core_tools(path: str) -> bool:
    parts = PurePosixPath(path).parts
    folders = {part.lower() for part in parts[:-1]}
    return bool(folders & CORE_TOOLS_SKIPPED_FOLDERS) or parts[-1].lower() in CORE_TOOLS_SKIPPED_FILES


def package_by_core_tools(files: Iterable[str], funcignore: str) -> list[str]:
    rules = CoreToolsIgnore.parse(funcignore)
    return sorted(path for path in files if not _skipped_by_core_tools(path) and rules.accepts(path))


def package_by_gitignore(files: Iterable[str], funcignore: str) -> list[str]:
    spec = pathspec.GitIgnoreSpec.from_lines(funcignore.splitlines())
    return sorted(path for path in files if not spec.match_file(path))


def project_files(root: Path = REPO) -> list[str]:
    """Tracked files plus new ones git does not ignore: what a checkout about to deploy holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({path for path in listed.split("\0") if path and (root / path).is_file()})


def stage(files: Iterable[str], destination: Path, root: Path = REPO) -> Path:
    """Copy ``files`` under ``destination``, as the deployment zip would lay them out."""
    for path in files:
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, target)
    return destination
