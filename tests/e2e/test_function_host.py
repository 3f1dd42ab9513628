"""The function app end to end on real Azurite and real PostgreSQL.

Files are uploaded to the inbox and `payout host --once` (devhost.run_host) processes
them through function_app.app as Azure would: one invocation per new blob version,
the SDK-type BlobClient as the argument, the poison queue and the app's function on it.
The functions are also called directly with what the worker passes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import azure.functions as func
import pytest
from azure.storage.queue import QueueClient

import function_app
from localdev import devhost
from payout_core.flows import mis_processing, process
from payout_core.flows.unit_of_work import Context
from payout_core.settings import PROJECT_ROOT, get_settings
from tests.e2e.conftest import Services, run_host_once, runs_by_file
from tests.support.postgres import this_tests_database, with_settings_read_again

pytestmark = pytest.mark.e2e

SAMPLES = PROJECT_ROOT / "samples"
GOOD_FILES = sorted((SAMPLES / "mis").glob("*.csv"))
UNKNOWN_PRODUCT = SAMPLES / "mis_broken" / "bank_a_unknown_product.csv"
EXPECTED = json.loads((SAMPLES / "expected_outcomes.json").read_text())
SUCCESS_HEADER = [
    "CreatedAt", "SourceType", "MediumType", "ProductType", "SPId", "LeadId", "Status",
    "SubStatus", "DateOfSale", "DateOfRevenue", "KPI1PayinAmount", "KPI1PayoutAmount",
    "KPI2PayinAmount", "KPI2PayoutAmount", "TotalPayin", "TotalPayout",
]  # fmt: skip


def count(query: str) -> int:
    with this_tests_database() as conn:
        return conn.execute(query).fetchone()[0]


def test_uploaded_files_are_processed_by_the_local_host(
    services: Services, context: Context
) -> None:
    settings = services.settings
    for path in [*GOOD_FILES, UNKNOWN_PRODUCT]:
        services.upload(path.name, path.read_bytes())

    assert run_host_once() == devhost.EXIT_OK

    runs = runs_by_file()
    for path in GOOD_FILES:
        expected = EXPECTED[path.name]
        (run,) = runs[path.name]
        assert run["rows_read"] == expected["rows_read"]
        assert {k: v for k, v in run["outcomes"].items() if v} == {
            k: v for k, v in expected["outcome_counts"].items() if v
        }
        stem = path.name.removesuffix(".csv")
        success = services.csv_rows(settings.output_container, f"success/{stem}.success.csv")
        assert success[0] == SUCCESS_HEADER
        assert len(success) - 1 == expected["outcome_counts"]["paid"]
        rejected = services.csv_rows(settings.output_container, f"rejected/{stem}.rejected.csv")
        assert len(rejected) - 1 == expected["rows_read"] - expected["outcome_counts"]["paid"]
    paid_total = sum(EXPECTED[path.name]["outcome_counts"]["paid"] for path in GOOD_FILES)
    assert count("SELECT count(*) FROM payout_calculations") == paid_total
    assert count("SELECT count(DISTINCT lead_id) FROM payout_events") == paid_total

    # The unknown product: refused as a whole, recorded twice over, moved aside.
    assert UNKNOWN_PRODUCT.name not in runs
    assert not services.exists(settings.mis_container, UNKNOWN_PRODUCT.name)
    assert services.read(settings.quarantine_container, UNKNOWN_PRODUCT.name) == (
        UNKNOWN_PRODUCT.read_bytes()
    )
    header, *error_rows = services.csv_rows(settings.output_container, "error_logs.csv")
    assert header == ["CreatedAt", "MIS", "ErrorType"]
    assert [row[1] for row in error_rows] == [UNKNOWN_PRODUCT.name]
    assert "Gold Loan" in error_rows[0][2]
    with context.reading() as conn:
        assert conn.execute("SELECT mis, error_type FROM error_logs").fetchall() == [
            (UNKNOWN_PRODUCT.name, error_rows[0][2])
        ]

    # Receipts: a restarted host finds nothing new to do.
    assert run_host_once() == devhost.EXIT_OK
    assert count("SELECT count(*) FROM mis_runs") == len(GOOD_FILES)


def test_a_file_with_missing_columns_is_quarantined(services: Services) -> None:
    services.upload(
        "bank_b_truncated.csv",
        b"SourceType,MediumType,ProductType\nBank_B,Medium_A,Personal Loan\n",
    )
    assert run_host_once() == devhost.EXIT_OK
    settings = services.settings
    assert services.exists(settings.quarantine_container, "bank_b_truncated.csv")
    assert not services.exists(settings.mis_container, "bank_b_truncated.csv")
    _, (_created_at, mis, error_type) = services.csv_rows(
        settings.output_container, "error_logs.csv"
    )
    assert mis == "bank_b_truncated.csv"
    assert "TrackingId" in error_type
    assert count("SELECT count(*) FROM error_logs") == 1


def test_re_uploading_the_same_file_pays_nothing_twice(services: Services) -> None:
    bank_a = SAMPLES / "mis" / "bank_a_savings_account_2023-10-03.csv"
    first_etag = services.upload(bank_a.name, bank_a.read_bytes())
    assert run_host_once() == devhost.EXIT_OK
    events_after_first = count("SELECT count(*) FROM payout_events")
    paid_leads = count("SELECT count(DISTINCT lead_id) FROM payout_events")
    assert paid_leads == EXPECTED[bank_a.name]["outcome_counts"]["paid"]

    second_etag = services.upload(bank_a.name, bank_a.read_bytes())  # same bytes, new ETag
    assert second_etag != first_etag
    assert run_host_once() == devhost.EXIT_OK

    assert count("SELECT count(*) FROM payout_events") == events_after_first
    first, second = runs_by_file()[bank_a.name]
    expected = EXPECTED[bank_a.name]["outcome_counts"]
    assert second["outcomes"].get("paid", 0) == 0
    assert second["outcomes"]["already_paid"] == expected["already_paid"] + expected["paid"]
    assert sum(second["outcomes"].values()) == second["rows_read"] == first["rows_read"]


def host_json_with(tmp_path: Path, *, poison_blob_threshold: int, max_dequeue_count: int) -> Path:
    host_json = tmp_path / "host.json"
    host_json.write_text(
        json.dumps(
            {
                "version": "2.0",
                "extensions": {
                    "blobs": {"poisonBlobThreshold": poison_blob_threshold},
                    "queues": {"maxDequeueCount": max_dequeue_count},
                },
            }
        )
    )
    return host_json


def database_goes_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYOUT_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    process.PROCESS.close()


def database_comes_back(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
    get_settings.cache_clear()
    process.PROCESS.close()


def poison_messages(services: Services) -> list[dict]:
    queue = QueueClient.from_connection_string(services.connection_string, devhost.POISON_QUEUE)
    messages = [json.loads(base64.b64decode(m.content)) for m in queue.peek_messages(32)]
    return [m for m in messages if m["ContainerName"] == services.settings.mis_container]


def test_a_blob_that_keeps_failing_is_poisoned_then_recorded_by_the_app(
    services: Services,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    context: Context,
) -> None:
    """Like Azure: the host only poisons (a message, the blob left in place); the app's
    poison-queue function records the cause and moves the file aside."""
    settings = services.settings
    bank_b = SAMPLES / "mis" / "bank_b_personal_loan_2023-10-03.csv"
    etag = services.upload(bank_b.name, bank_b.read_bytes())
    host_json = host_json_with(tmp_path, poison_blob_threshold=2, max_dequeue_count=5)
    host = devhost.build_host(local_settings_path=None, host_json_path=host_json)

    database_goes_away(monkeypatch)  # every attempt is a TransientError, raised for the host
    assert host.drain_blobs() == devhost.EXIT_POISONED

    assert services.exists(settings.mis_container, bank_b.name)  # the host moves nothing
    assert not services.exists(settings.output_container, "error_logs.csv")
    (message,) = poison_messages(services)
    assert message["ETag"].strip('"') == etag.strip('"')
    assert {key: value for key, value in message.items() if key != "ETag"} == {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.mis_uploaded",
        "BlobType": "BlockBlob",
        "ContainerName": settings.mis_container,
        "BlobName": bank_b.name,
    }

    database_comes_back(monkeypatch, database_url)
    host.queue_triggers.drain(lambda _: None)

    assert poison_messages(services) == []
    assert not services.exists(settings.mis_container, bank_b.name)
    assert services.read(settings.quarantine_container, bank_b.name) == bank_b.read_bytes()
    _, (_, mis, error_type) = services.csv_rows(settings.output_container, "error_logs.csv")
    assert mis == bank_b.name
    assert "failed on every attempt" in error_type
    assert "database unavailable" in error_type  # the last attempt's cause
    with context.reading() as conn:
        assert conn.execute("SELECT mis, error_type FROM error_logs").fetchall() == [
            (bank_b.name, error_type)
        ]
    assert count("SELECT count(*) FROM mis_runs") == 0
    # Poisoned means done: the next host run leaves it alone.
    assert run_host_once(host_json) == devhost.EXIT_OK
    assert count("SELECT count(*) FROM error_logs") == 1


def test_with_the_database_down_throughout_the_file_still_goes_aside_and_into_the_csv(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = services.settings
    bank_b = SAMPLES / "mis" / "bank_b_personal_loan_2023-10-03.csv"
    services.upload(bank_b.name, bank_b.read_bytes())
    # The queue's last attempt is host.json's maxDequeueCount (5, as the app assumes).
    host_json = host_json_with(tmp_path, poison_blob_threshold=1, max_dequeue_count=5)
    database_goes_away(monkeypatch)

    assert run_host_once(host_json) == devhost.EXIT_POISONED

    assert services.read(settings.quarantine_container, bank_b.name) == bank_b.read_bytes()
    _, (_, mis, error_type) = services.csv_rows(settings.output_container, "error_logs.csv")
    assert (mis, "database unavailable" in error_type) == (bank_b.name, True)
    # The message waits on the poison queue's own poison queue for a person.
    poison_poison = QueueClient.from_connection_string(
        services.connection_string, devhost.POISON_QUEUE + "-poison"
    )
    assert any(
        json.loads(base64.b64decode(m.content))["BlobName"] == bank_b.name
        for m in poison_poison.peek_messages(32)
    )


def test_functions_called_directly(services: Services) -> None:
    settings = services.settings
    bank_b = SAMPLES / "mis" / "bank_b_personal_loan_2023-10-03.csv"
    services.upload(bank_b.name, bank_b.read_bytes())

    # What the SDK-type binding hands over: a client, not the content.
    function_app.mis_uploaded(services.client.get_blob_client(settings.mis_container, bank_b.name))
    expected_paid = EXPECTED[bank_b.name]["outcome_counts"]["paid"]
    assert count("SELECT count(*) FROM payout_calculations") == expected_paid

    function_app.iteration_summary(func.timer.TimerRequest(past_due=True))
    assert count("SELECT count(*) FROM iterations") == 1
    assert any(settings.outbox_dir.rglob("*.eml"))
    # The cycle's wallet credits reached the output container, once, for the wallet team.
    header, *credit_rows = services.csv_rows(
        settings.output_container, "credits/wallet_credits_cycle_1.csv"
    )
    assert header == ["\ufeffCreditId", "Cycle", "SPId", "Amount", "Events"]
    assert len(credit_rows) == count("SELECT count(*) FROM wallet_credits") > 0
    assert count("SELECT count(*) FROM credit_files") == 1


def test_a_configuration_error_is_recorded_but_the_file_stays_for_a_rerun(
    services: Services,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    context: Context,
) -> None:
    """The deployment is wrong, not the file: it is never moved aside."""
    settings = services.settings
    bank_a = SAMPLES / "mis" / "bank_a_savings_account_2023-10-03.csv"
    services.upload(bank_a.name, bank_a.read_bytes())
    host_json = host_json_with(tmp_path, poison_blob_threshold=2, max_dequeue_count=5)
    host = devhost.build_host(local_settings_path=None, host_json_path=host_json)

    monkeypatch.setenv("PAYOUT_DATABASE_URL", "")  # a setting missing: ConfigurationError
    context = with_settings_read_again(context)
    process.PROCESS.close()
    assert host.drain_blobs() == devhost.EXIT_POISONED
    database_comes_back(monkeypatch, database_url)  # the operator fixes it
    host.queue_triggers.drain(lambda _: None)

    assert services.exists(settings.mis_container, bank_a.name)
    assert not services.exists(settings.quarantine_container, bank_a.name)
    with context.reading() as conn:
        ((mis, error_type),) = conn.execute("SELECT mis, error_type FROM error_logs").fetchall()
    assert mis == bank_a.name
    assert "configuration" in error_type and "PAYOUT_DATABASE_URL" in error_type

    services.upload(bank_a.name, bank_a.read_bytes())  # uploaded again: it runs
    assert run_host_once(host_json) == devhost.EXIT_OK
    assert count("SELECT count(*) FROM mis_runs") == 1


def test_a_failure_nobody_foresaw_is_recorded_with_its_cause_and_moved_aside(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    def bug(*_: object, **__: object) -> None:
        raise KeyError("surprise")  # stands for any bug: neither terminal nor transient

    monkeypatch.setattr(mis_processing, "process_mis_file", bug)
    settings = services.settings
    bank_a = SAMPLES / "mis" / "bank_a_savings_account_2023-10-03.csv"
    services.upload(bank_a.name, bank_a.read_bytes())

    assert run_host_once(host_json_with(tmp_path, poison_blob_threshold=3, max_dequeue_count=5))

    assert services.read(settings.quarantine_container, bank_a.name) == bank_a.read_bytes()
    _, (_, mis, error_type) = services.csv_rows(settings.output_container, "error_logs.csv")
    assert mis == bank_a.name
    assert "unexpected KeyError" in error_type and "surprise" in error_type
    assert count("SELECT count(*) FROM error_logs") == 1
    assert poison_messages(services) == []
