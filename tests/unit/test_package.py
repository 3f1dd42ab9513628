"""The package a publish would upload (`make package`, chosen by .funcignore): the app and
its product handlers, and nothing of local development, tests or state."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from localdev import package
from payout_core.settings import PROJECT_ROOT

APP_FILES = {
    "function_app.py",
    "host.json",
    "requirements.txt",
    "config/banks.toml",
    "payout_core/flows/triggers.py",
    "payout_core/ledger/migrations/001_ledger.sql",
}
NEVER_SHIPPED = (
    "localdev/",
    "payout_cli/",  # the operator's commands run from a checkout, never in Azure
    "tests/",
    "samples/",
    "node_modules/",
    ".venv/",
    ".state/",
    ".git",
    "bench/",
    "dist/",
    "local.settings",
    "requirements-dev.txt",
    "pyproject.toml",
)


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build_package(tmp_path_factory.mktemp("package") / "app.zip")


def names_in(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def test_the_package_holds_the_app_and_every_product_handler(package_zip: Path) -> None:
    names = set(names_in(package_zip))
    assert names >= APP_FILES
    handlers = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PROJECT_ROOT / "product_handlers").glob("*.py")
    }
    assert handlers and names >= handlers
    deployed_modules = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PROJECT_ROOT / "payout_core").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert names >= deployed_modules


def test_the_package_holds_nothing_local(package_zip: Path) -> None:
    local = [
        name
        for name in names_in(package_zip)
        if name.startswith(NEVER_SHIPPED) or "__pycache__" in name or name.endswith(".pyc")
    ]
    assert local == []
    assert package_zip.stat().st_size < 1_000_000  # not the 716 MB of a careless publish


def test_the_packaged_app_indexes_without_local_development(
    package_zip: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(package_zip) as archive:
        archive.extractall(tmp_path)
    probe = (
        "import sys; sys.modules['localdev'] = None; sys.modules['tests'] = None; "
        "sys.modules['payout_cli'] = None; "
        "import function_app, payout_core.flows.triggers, payout_core.flows.mis_processing; "
        "import payout_core.flows.reconciliation_processing, payout_core.flows.iteration; "
        "import payout_core.review.handler; "
        "print(function_app.__file__, len(function_app.app.get_functions()))"
    )
    indexed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert indexed.returncode == 0, indexed.stderr
    module_file, function_count = indexed.stdout.split()
    assert Path(module_file).parent == tmp_path  # the packaged copy, not the checkout
    import function_app
    from localdev.discovery import indexed_functions

    assert int(function_count) == len(indexed_functions(function_app.app))


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        ("localdev", True, True),
        ("payout_core/__pycache__", True, True),
        ("payout_core/x.pyc", False, True),
        ("payout_core", True, False),
        ("local.settings.json", False, True),
        ("infra", True, True),
        ("azure.yaml", False, True),
        ("product_handlers/savings_account.py", False, False),
    ],
)
def test_funcignore_patterns(path: str, is_dir: bool, ignored: bool) -> None:
    patterns = package.read_patterns(PROJECT_ROOT)
    assert package.is_ignored(path, is_dir, patterns) is ignored
