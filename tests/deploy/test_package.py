"""The deployment package (`.funcignore`): the app loads from it alone; nothing else ships.

The package is built from the project's files by both readers of `.funcignore` (Core Tools and
gitignore syntax, see ``package.py``), copied to a temporary folder, and imported there by a
fresh interpreter whose path holds only that copy, the standard library and site-packages.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.package import (
    FUNCIGNORE,
    REPO,
    package_by_core_tools,
    package_by_gitignore,
    project_files,
    stage,
)

FUNCTION_FOLDERS = (
    "webhook_receiver",
    "event_processor",
    "sync_dispatcher",
    "document_transfer",
    "health_probe",
)
#: What ships, at the top of the package, and nothing more.
PACKAGE_TOP = frozenset(
    {"function_app.py", "host.json", "requirements.txt", "shared", "migrations", *FUNCTION_FOLDERS}
)

#: Paths a developer's checkout holds besides the tracked files: none may ship.
LOCAL_STATE = (
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/pytest/__init__.py",
    "node_modules/azurite/package.json",
    ".local/test.env",
    ".local/pgdata/postgresql.conf",
    "local.settings.json",
    ".env",
    ".git/HEAD",
    ".github/workflows/ci.yml",
    ".vscode/settings.json",
    "infra/main.bicep",
    "__pycache__/function_app.cpython-311.pyc",
    "shared/__pycache__/db.cpython-311.pyc",
    "shared/inbound/__pycache__/processor.cpython-311.pyc",
    "event_processor/__init__.pyc",
    ".mypy_cache/3.11/shared/db.data.json",
    ".ruff_cache/CACHEDIR.TAG",
    ".pytest_cache/v/cache/lastfailed",
    ".hypothesis/examples/0a/1b",
    ".coverage",
)
#: Never in the package, whatever else changes.
NEVER_SHIPPED = (
    "tests",
    "bench",
    "devhost",
    "portal_simulator",
    "ops",
    "docs",
    "scripts",
    ".local",
    ".venv",
    "node_modules",
)

READERS = {"core tools": package_by_core_tools, "gitignore": package_by_gitignore}


@pytest.fixture(scope="module")
def funcignore() -> str:
    return FUNCIGNORE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def files() -> list[str]:
    return project_files()


@pytest.fixture(scope="module")
def package(files, funcignore) -> list[str]:
    return package_by_core_tools(files, funcignore)


@pytest.fixture(scope="module")
def staged(package, tmp_path_factory) -> Path:
    return stage(package, tmp_path_factory.mktemp("package"))


# --------------------------------------------------------------------------- what ships


def test_both_readers_of_funcignore_build_the_same_package(files, funcignore) -> None:
    every = [*files, *LOCAL_STATE]
    by_core_tools = package_by_core_tools(every, funcignore)
    by_gitignore = package_by_gitignore(every, funcignore)
    assert set(by_core_tools) ^ set(by_gitignore) == set(), (
        "a .funcignore line means different things to them"
    )


#: Files the app serves as they are (the status page, shared/health/dashboard.py reads it).
APP_ASSETS = {"shared/health/dashboard.html"}


def test_the_package_holds_the_app_and_nothing_else(package) -> None:
    assert {PurePosixPath(path).parts[0] for path in package} == PACKAGE_TOP
    assert not [
        path
        for path in package
        if PurePosixPath(path).suffix not in {".py", ".sql", ".json", ".txt"} and path not in APP_ASSETS
    ]
    assert set(package) >= APP_ASSETS


@pytest.mark.parametrize("reader", READERS)
def test_tests_tools_docs_and_local_state_stay_out(reader, files, funcignore) -> None:
    shipped = READERS[reader]([*files, *LOCAL_STATE], funcignore)
    leaked = [path for path in shipped if PurePosixPath(path).parts[0] in NEVER_SHIPPED]
    assert leaked == []
    assert [path for path in LOCAL_STATE if path in shipped] == []
    assert [path for path in shipped if path.endswith(".pyc") or "__pycache__" in path] == []
    assert "local.settings.json" not in shipped
    assert "local.settings.sample.json" not in shipped


def test_every_function_folder_and_the_core_ship_whole(files, package) -> None:
    for folder in (*FUNCTION_FOLDERS, "shared", "migrations"):
        tracked = [path for path in files if path.startswith(folder + "/")]
        assert tracked, folder
        assert [path for path in tracked if path not in package] == [], folder


# --------------------------------------------------------------------------- the app loads from it

_LOAD = """
import importlib, json, sys
package = sys.argv[1]
sys.path.insert(0, package)
import function_app
functions = sorted(
    (f.get_function_name(), f.get_trigger().type) for f in function_app.app.get_functions()
)
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
import shared.migrate
migrations = [[m.version, m.name] for m in shared.migrate.discover()]
modules = {
    name: getattr(module, "__file__", None)
    for name, module in list(sys.modules.items())
    if name.split(".")[0] in json.loads(sys.argv[3])
}
print(json.dumps({"functions": functions, "migrations": migrations, "modules": modules}))
"""


def _modules_of(package: list[str]) -> list[str]:
    names = []
    for path in package:
        pure = PurePosixPath(path)
        if pure.suffix != ".py":
            continue
        parts = pure.with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def _load(app_dir: Path, package: list[str]) -> subprocess.CompletedProcess[str]:
    """Import the app and every packaged module in a fresh interpreter that sees only ``app_dir``.

    ``-I`` leaves out the working directory, PYTHONPATH and the user's site-packages.
    """
    first_party = sorted({name.split(".")[0] for name in _modules_of(package)})
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            _LOAD,
            str(app_dir),
            json.dumps(_modules_of(package)),
            json.dumps(first_party),
        ],
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_packaged_app_imports_and_lists_its_functions_from_the_package_alone(package, staged) -> None:
    loaded = _load(staged, package)
    assert loaded.returncode == 0, loaded.stderr
    report = json.loads(loaded.stdout)
    from_checkout = json.loads(_load(REPO, package).stdout)

    assert report["functions"] == from_checkout["functions"]
    assert {trigger for _, trigger in report["functions"]} >= {
        "httpTrigger",
        "serviceBusTrigger",
        "timerTrigger",
    }
    outside = {
        name: path for name, path in report["modules"].items() if path and not path.startswith(str(staged))
    }
    assert outside == {}, "first-party modules were imported from outside the package"
    assert set(report["modules"]) >= set(_modules_of(package))


def test_the_packaged_migrator_finds_the_packaged_migrations(package, staged) -> None:
    report = json.loads(_load(staged, package).stdout)
    expected = sorted(path.name for path in (REPO / "migrations").glob("*.sql"))
    assert [f"{version:04d}_{name}.sql" for version, name in report["migrations"]] == expected


def test_a_package_that_lacks_a_module_the_app_imports_fails_to_load(package, tmp_path) -> None:
    """The check above can fail: leave out one module of the core and the import breaks."""
    incomplete = [path for path in package if path != "shared/rules.py"]
    loaded = _load(stage(incomplete, tmp_path), incomplete)
    assert loaded.returncode != 0
    assert "shared.rules" in loaded.stderr


# --------------------------------------------------------------------------- imports Azure can satisfy


def _requirement_closure(requirements: Path) -> set[str]:
    """The distributions `pip install -r requirements.txt` brings, as installed here."""
    pending = [
        (Requirement(line), "")
        for line in (
            raw.split("#", 1)[0].strip() for raw in requirements.read_text(encoding="utf-8").splitlines()
        )
        if line
    ]
    expanded: set[tuple[str, str]] = set()
    names: set[str] = set()
    while pending:
        requirement, wanted_by = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": wanted_by}):
            continue
        name = canonicalize_name(requirement.name)
        names.add(name)
        for extra in ("", *requirement.extras):
            if (name, extra) not in expanded:
                expanded.add((name, extra))
                pending.extend(
                    (Requirement(dependency), extra) for dependency in metadata.requires(name) or []
                )
    return names


def _imported_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _unmet_imports(package: list[str], read: Callable[[str], str]) -> list[str]:
    """Imports (inside functions too) that are neither packaged, standard, nor in requirements.txt."""
    installed_by_azure = _requirement_closure(REPO / "requirements.txt")
    providers = {
        top: {canonicalize_name(dist) for dist in dists}
        for top, dists in metadata.packages_distributions().items()
    }
    packaged = set(_modules_of(package))
    first_party = {name.split(".")[0] for name in packaged}
    unmet: list[str] = []
    for path in package:
        if not path.endswith(".py"):
            continue
        for name in sorted(_imported_names(read(path))):
            parts = name.split(".")
            if parts[0] in first_party:
                if not {".".join(parts[:i]) for i in range(1, len(parts) + 1)} <= packaged:
                    unmet.append(f"{path}: {name} is not in the package")
            elif (
                parts[0] not in sys.stdlib_module_names
                and not providers.get(parts[0], set()) & installed_by_azure
            ):
                unmet.append(
                    f"{path}: {name} comes from {sorted(providers.get(parts[0], {'nothing installed'}))}"
                )
    return unmet


def _read(path: str) -> str:
    return (REPO / path).read_text(encoding="utf-8")


def test_every_import_in_the_package_is_packaged_standard_or_in_requirements_txt(package) -> None:
    """Lazy imports count: the Service Bus SDK and Azure Monitor load only when configured."""
    assert _unmet_imports(package, _read) == []


def test_an_import_of_a_dev_tool_or_of_an_unpackaged_module_is_caught(package) -> None:
    """croniter is installed here (devhost uses it) but Azure installs only requirements.txt."""
    extra = "shared/lazy.py"
    source = "def later():\n    import croniter\n    import shared.not_packaged\n    import json\n"
    unmet = _unmet_imports([*package, extra], lambda path: source if path == extra else _read(path))
    assert unmet == [
        "shared/lazy.py: croniter comes from ['croniter']",
        "shared/lazy.py: shared.not_packaged is not in the package",
    ]


def test_the_requirement_closure_holds_what_azure_installs_and_no_dev_tool() -> None:
    closure = _requirement_closure(REPO / "requirements.txt")
    assert {"azure-functions", "azure-servicebus", "psycopg-binary", "azure-core", "pydantic-core"} <= closure
    assert not {"pytest", "starlette", "uvicorn", "croniter", "azure-functions-doctor", "pathspec"} & closure
