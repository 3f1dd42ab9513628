"""Shared fixtures: real PostgreSQL and real Azurite for integration and e2e tests.

The contract other test modules rely on (names are stable):

- `postgres_server_url` (session): PAYOUT_DATABASE_URL when set in the environment,
  else an embedded PostgreSQL (pgserver) in a temporary folder, deleted afterwards.
- `database_url` (function): a fresh, migrated database for this test only, cloned from a
  template migrated once per session. PAYOUT_DATABASE_URL points at it and the settings
  cache is reset, so every entry point (a `payout` command, a function body) finds it.
- `context` (function): what an entry point hands the flows (flows/unit_of_work.Context):
  the settings read now and a Database opened on this test's database; closed afterwards.
  A test that changes the settings afterwards opens a context of its own.
- `azurite` (session): running Azurite blob + queue; `.connection_string`, `.blob_port`,
  `.queue_port`.
- `storage_env` (function): MisStorage -> Azurite, and container names unique to this
  test in MIS_CONTAINER / PAYOUT_OUTPUT_CONTAINER / PAYOUT_QUARANTINE_CONTAINER (not
  created: the code under test creates what it needs). Yields the `Settings`.
- `tmp_state` (function): PAYOUT_STATE_DIR = tmp_path/"state" and PAYOUT_OUTBOX_DIR =
  tmp_path/"state"/"outbox". Yields the state folder (a Path).

Tests under tests/unit may not use the service fixtures (collection fails if they do);
tests under tests/integration and tests/e2e are marked `integration` / `e2e` automatically
(declaring `pytestmark` in the module as well is welcome and harmless).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import product_handlers  # noqa: F401  (registers every product, as the flows do)
from localdev import embedded
from payout_core.flows import process
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db
from payout_core.settings import Settings, get_settings
from tests.support import postgres

SERVICE_FIXTURES = frozenset(
    {"postgres_server_url", "database_url", "context", "azurite", "storage_env"}
)
TESTS_ROOT = Path(__file__).resolve().parent

# The Azure SDK logs every HTTP request at INFO; a failing test's output should show ours.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


def pytest_configure(config: pytest.Config) -> None:
    # pgserver asks platformdirs for a runtime folder, which warns when XDG_RUNTIME_DIR is
    # unset (CI, root shells); it falls back to /tmp, which is what we want anyway.
    config.addinivalue_line("filterwarnings", "ignore:XDG_RUNTIME_DIR is not set")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced: list[str] = []
    for item in items:
        layer = Path(item.path).resolve().relative_to(TESTS_ROOT).parts[0]
        if layer == "integration":
            item.add_marker(pytest.mark.integration)
        elif layer == "e2e":
            item.add_marker(pytest.mark.e2e)
        elif layer == "unit":
            used = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if used:
                misplaced.append(f"{item.nodeid} uses {', '.join(sorted(used))}")
    if misplaced:
        raise pytest.UsageError(
            "unit tests must not need services; move these to tests/integration:\n  "
            + "\n  ".join(misplaced)
        )


def _reset_process_state() -> None:
    """Settings are read once per process and the deployed entry points' context is opened
    from them: both must be rebuilt whenever a fixture changes the environment."""
    get_settings.cache_clear()
    process.PROCESS.close()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    # No test sees settings or a pool left behind by the previous one.
    _reset_process_state()
    yield
    _reset_process_state()


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external_url = os.environ.get("PAYOUT_DATABASE_URL")
    if external_url:
        yield external_url
        return
    state_dir = tmp_path_factory.mktemp("postgres")
    server = embedded.postgres_server(state_dir, cleanup_mode="delete")
    server_url = str(server.get_uri())
    postgres.tune_for_tests(server_url)
    try:
        yield server_url
    finally:
        embedded.stop_postgres(state_dir)


@pytest.fixture(scope="session")
def _migrated_template(postgres_server_url: str) -> Iterator[str]:
    """A database migrated once; each test's database is a file-level copy of it, which is
    much faster than running the migrations per test."""
    template = f"payout_template_{uuid.uuid4().hex[:12]}"
    template_url = postgres.create_database(postgres_server_url, template)
    try:
        # Closed before any CREATE DATABASE ... TEMPLATE: a template must have no sessions.
        with postgres.admin_connection(template_url) as conn:
            db.migrate(conn)
        yield template
    finally:
        postgres.drop_database(postgres_server_url, template)


@pytest.fixture
def database_url(
    postgres_server_url: str, _migrated_template: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    database = f"payout_test_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(postgres_server_url, database, template=_migrated_template)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
    _reset_process_state()
    try:
        yield url
    finally:
        _reset_process_state()
        postgres.drop_database(postgres_server_url, database)


@pytest.fixture
def context(database_url: str) -> Iterator[Context]:
    opened = Context.open(get_settings())
    try:
        yield opened
    finally:
        opened.close()


# --- Blob Storage --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded.Azurite]:
    with embedded.Azurite(tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture
def storage_env(azurite: embedded.Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    # Container names: 3-63 lowercase letters, digits and single hyphens.
    suffix = uuid.uuid4().hex[:12]
    monkeypatch.setenv("MisStorage", azurite.connection_string)
    monkeypatch.setenv("MIS_CONTAINER", f"mis-inbox-{suffix}")
    monkeypatch.setenv("PAYOUT_OUTPUT_CONTAINER", f"mis-outputs-{suffix}")
    monkeypatch.setenv("PAYOUT_QUARANTINE_CONTAINER", f"mis-quarantine-{suffix}")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


# --- Local state ---------------------------------------------------------------------------


@pytest.fixture
def tmp_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state_dir = tmp_path / "state"
    outbox_dir = state_dir / "outbox"
    outbox_dir.mkdir(parents=True)
    monkeypatch.setenv("PAYOUT_STATE_DIR", str(state_dir))
    monkeypatch.setenv("PAYOUT_OUTBOX_DIR", str(outbox_dir))
    get_settings.cache_clear()
    yield state_dir
    get_settings.cache_clear()
