"""The three rooms stay apart: the engine does no I/O, and nothing deployed reaches into
local development. Read from the source (every import, lazy ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = [
    PROJECT_ROOT / "function_app.py",
    *sorted((PROJECT_ROOT / "payout_core").rglob("*.py")),
    *sorted((PROJECT_ROOT / "product_handlers").rglob("*.py")),
]
ENGINE = sorted((PROJECT_ROOT / "payout_core" / "engine").rglob("*.py"))
# What the engine may not import: adapters, entry points, drivers and SDKs.
NOT_FOR_THE_ENGINE = (
    "payout_core.ledger",
    "payout_core.adapters.storage",
    "payout_core.adapters.mail",
    "payout_cli.local_outputs",
    "payout_core.flows.mis_processing",
    "payout_core.flows.triggers",
    "payout_core.flows.iteration",
    "payout_cli.commands",
    "payout_core.settings",
    "psycopg",
    "psycopg_pool",
    "azure",
    "localdev",
)
DEPLOYED_MODULE_MAX_LINES = 450


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _reaches(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        module
        for module in modules
        if any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden)
    )


@pytest.mark.parametrize("path", DEPLOYED, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_nothing_deployed_imports_local_development(path: Path) -> None:
    assert _reaches(imported_modules(path), ("localdev", "tests")) == []


@pytest.mark.parametrize("path", ENGINE, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_the_engine_imports_no_adapter(path: Path) -> None:
    assert _reaches(imported_modules(path), NOT_FOR_THE_ENGINE) == []


@pytest.mark.parametrize("path", DEPLOYED, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_deployed_modules_stay_readable(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= DEPLOYED_MODULE_MAX_LINES


def test_the_checks_see_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from localdev import embedded\n    import psycopg\n")
    assert _reaches(imported_modules(sample), NOT_FOR_THE_ENGINE) == [
        "localdev",
        "localdev.embedded",
        "psycopg",
    ]
