"""The shared fixtures give each test real, isolated services (see tests/conftest.py)."""

from __future__ import annotations

import socket
from importlib import resources

import psycopg
import pytest
from azure.storage.blob import BlobServiceClient

from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db
from payout_core.settings import Settings, get_settings

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "leads", "rule_sets", "payin_payout_rules", "mis_runs", "payout_calculations",
    "payout_events", "error_logs", "iterations", "schema_migrations",
}  # fmt: skip


def _migration_files() -> list[str]:
    folder = resources.files("payout_core.ledger") / "migrations"
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".sql"))


def test_database_is_migrated_and_migrate_is_idempotent(
    database_url: str, context: Context
) -> None:
    assert get_settings().database_url == database_url

    with context.reading() as conn:
        recorded = [row[0] for row in conn.execute(
            "SELECT version FROM schema_migrations ORDER BY version"
        )]  # fmt: skip
        tables = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )}  # fmt: skip
        applied_again = db.migrate(conn)
        recorded_after = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()

    assert recorded == _migration_files()
    assert tables >= EXPECTED_TABLES
    assert applied_again == []
    assert recorded_after == (len(recorded),)


def test_each_test_gets_its_own_database(
    database_url: str, postgres_server_url: str, context: Context
) -> None:
    # Written here, it must not be visible in any other test's database.
    with context.reading() as conn, conn.transaction():
        conn.execute(
            "INSERT INTO leads (lead_id, sp_id, source_type, medium_type, product_type, status)"
            " VALUES ('AT-ISOLA', 'SP00001', 'Bank_A', 'Medium_A', 'Savings Account', 'Pending')"
        )
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone()[0].startswith("payout_test_")
    assert database_url != postgres_server_url


def test_blob_round_trip_on_azurite(storage_env: Settings) -> None:
    content = b"SourceType,MediumType\nBank_A,Medium_A\n"
    service = BlobServiceClient.from_connection_string(storage_env.storage_connection_string)
    container = service.create_container(storage_env.mis_container)
    container.upload_blob("round_trip.csv", content)

    downloaded = container.download_blob("round_trip.csv").readall()
    names = [blob.name for blob in container.list_blobs()]

    assert downloaded == content
    assert names == ["round_trip.csv"]


def test_storage_env_names_are_unique_per_test(storage_env: Settings, azurite) -> None:
    names = {
        storage_env.mis_container, storage_env.output_container,
        storage_env.quarantine_container,
    }  # fmt: skip
    assert len(names) == 3
    assert all(name == name.lower() and 3 <= len(name) <= 63 for name in names)
    assert str(azurite.blob_port) in storage_env.storage_connection_string
    # The queue service is up too: the Functions host keeps blob-trigger receipts there.
    with socket.create_connection(("127.0.0.1", azurite.queue_port), timeout=2):
        pass


def test_tmp_state_points_local_state_into_the_test_folder(tmp_state, tmp_path) -> None:
    settings = get_settings()
    assert settings.state_dir == tmp_state
    assert settings.outbox_dir.is_relative_to(tmp_path)
    assert settings.outbox_dir.is_dir()
