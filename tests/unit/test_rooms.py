"""The rooms of the house stay apart, read from the source's import graph (every import,
lazy ones and type-only ones included):

- the engine decides and does no I/O: it imports nothing of the house but itself;
- the ledger keeps rows: it imports neither the report nor the flows;
- nothing deployed reaches into the operator's CLI, local development or the tests;
- no two rooms import each other, and no two modules do, through any loop;
- the settings are read only where a request, a trigger or a command comes in;
- every deployed module stays short enough to read.

`from package import name` counts as importing `package.name` when that is a module (as
import-linter's grimp counts it), otherwise as importing `package`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOUSE = ("function_app", "payout_core", "product_handlers", "payout_cli", "localdev", "tests")
DEPLOYED_PACKAGES = ("function_app", "payout_core", "product_handlers")
NOT_DEPLOYED = ("payout_cli", "localdev", "tests")
# Rooms inside payout_core; its top-level modules (settings, setting_values, errors) are one room.
PAYOUT_CORE_ROOMS = ("engine", "ledger", "flows", "adapters", "report", "review")
# Drivers and SDKs: talking to the world is for the adapters and the ledger.
IO_LIBRARIES = ("psycopg", "psycopg_pool", "azure", "opentelemetry", "socket", "urllib", "http")
# Where a request, a trigger or a command comes in: the only modules that read settings.
SETTINGS_READERS = (
    "function_app",
    "payout_core.settings",
    "payout_core.flows.triggers",
    "payout_core.flows.process",
    "payout_core.review.handler",
)
DEPLOYED_MODULE_MAX_LINES = 450


def module_name(path: Path, root: Path = PROJECT_ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def house_modules(root: Path = PROJECT_ROOT) -> dict[str, Path]:
    paths = [root / "function_app.py"]
    for package in HOUSE[1:]:
        paths += sorted((root / package).rglob("*.py"))
    return {module_name(path, root): path for path in paths if path.exists()}


def imported_modules(path: Path, known: Iterable[str] = ()) -> set[str]:
    """Every module `path` imports; `from a import b` is `a.b` when `a.b` is in `known`."""
    known = set(known)
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            modules.update(submodules)
            if len(submodules) < len(node.names):
                modules.add(node.module)
    return modules


def _within(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def room_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "payout_core" and len(parts) > 1 and parts[1] in PAYOUT_CORE_ROOMS:
        return f"payout_core.{parts[1]}"
    return parts[0]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the house's modules it imports (an import of `a.b.c` that is not a module
    of its own counts as `a.b`)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_modules(path, modules):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        rooms.setdefault(room_of(module), set()).update(
            room_of(target) for target in targets if room_of(target) != room_of(module)
        )
    return rooms


MODULES = house_modules()
GRAPH = import_graph(MODULES)
DEPLOYED = sorted(name for name in MODULES if _within(name, DEPLOYED_PACKAGES))
ENGINE = sorted(name for name in MODULES if _within(name, ("payout_core.engine",)))
LEDGER = sorted(name for name in MODULES if _within(name, ("payout_core.ledger",)))


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_imports_nothing_of_the_house_but_itself(module: str) -> None:
    imported = imported_modules(MODULES[module], MODULES)
    outside_the_engine = [m for m in imported if not _within(m, ("payout_core.engine",))]
    assert sorted(m for m in outside_the_engine if _within(m, HOUSE)) == []
    assert sorted(m for m in imported if _within(m, IO_LIBRARIES)) == []


@pytest.mark.parametrize("module", LEDGER)
def test_the_ledger_imports_neither_the_report_nor_the_flows(module: str) -> None:
    forbidden = ("payout_core.report", "payout_core.flows", "payout_core.review", *NOT_DEPLOYED)
    assert sorted(m for m in GRAPH[module] if _within(m, forbidden)) == []


@pytest.mark.parametrize("module", DEPLOYED)
def test_nothing_deployed_imports_the_cli_local_development_or_tests(module: str) -> None:
    imported = imported_modules(MODULES[module], MODULES)
    assert sorted(m for m in imported if _within(m, NOT_DEPLOYED)) == []


def test_no_two_rooms_import_each_other() -> None:
    assert loops(room_graph(GRAPH)) == []


def test_no_two_modules_import_each_other_through_any_loop() -> None:
    assert loops(GRAPH) == []


@pytest.mark.parametrize("module", DEPLOYED)
def test_settings_are_read_only_where_work_comes_in(module: str) -> None:
    calls = [
        node.lineno
        for node in ast.walk(ast.parse(MODULES[module].read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "get_settings"
    ]
    assert module in SETTINGS_READERS or calls == []


@pytest.mark.parametrize("module", DEPLOYED)
def test_deployed_modules_stay_readable(module: str) -> None:
    assert len(MODULES[module].read_text().splitlines()) <= DEPLOYED_MODULE_MAX_LINES


def test_the_checks_see_forbidden_imports_and_loops(tmp_path: Path) -> None:
    """The rules above would fail on a house that broke them."""
    engine = tmp_path / "payout_core" / "engine"
    ledger = tmp_path / "payout_core" / "ledger"
    for folder in (engine, ledger, tmp_path / "payout_core" / "report"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    (tmp_path / "payout_core" / "__init__.py").write_text("")
    (engine / "mis.py").write_text(
        "def f():\n    from localdev import embedded\n    import psycopg\n"
    )
    (ledger / "rows.py").write_text("from payout_core.report import money\n")
    (tmp_path / "payout_core" / "report" / "__init__.py").write_text(
        "from payout_core.ledger import rows\nmoney = 1\n"
    )
    modules = house_modules(tmp_path)
    graph = import_graph(modules)

    assert imported_modules(modules["payout_core.engine.mis"], modules) == {"localdev", "psycopg"}
    assert graph["payout_core.ledger.rows"] == {"payout_core.report"}
    assert loops(graph) == [["payout_core.ledger.rows", "payout_core.report"]]
    assert loops(room_graph(graph)) == [["payout_core.ledger", "payout_core.report"]]
