"""The Functions doorway as the host sees it: bindings, settings files, cold-start cost.

The functions are also called directly here with what the worker passes (the SDK-type
BlobClient, func.QueueMessage, func.TimerRequest), with payout_core's bodies replaced,
to prove the doorway passes what the host gives it; tests/e2e calls them for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob_types
import pytest
from azure.storage.blob import BlobServiceClient

import function_app
from localdev import devhost, discovery
from localdev.host_config import HostConfig
from payout_core.flows import refusals, triggers
from payout_core.settings import PROJECT_ROOT, Settings, get_settings

COLD_START_SECONDS_MAX = 2.0


def bindings_by_function() -> dict[str, dict[str, Any]]:
    return {
        function.get_function_name(): function.get_trigger().get_dict_repr()
        for function in discovery.indexed_functions(function_app.app)
    }


def _clean_env() -> dict[str, str]:
    """This process's environment without the app's settings (a fresh host's view)."""
    aliases = {field.alias for field in Settings.model_fields.values()}
    return {key: value for key, value in os.environ.items() if key not in aliases}


FUNCTION_NAMES = {
    "mis_uploaded",
    "remittance_uploaded",
    "wallet_confirmation_uploaded",
    "blob_poisoned",
    "iteration_summary",
    "review",
}


def test_the_app_has_exactly_its_functions() -> None:
    assert set(bindings_by_function()) == FUNCTION_NAMES
    # Twice: the local host and the tests index the same app more than once per process.
    assert set(bindings_by_function()) == FUNCTION_NAMES


def test_blob_trigger_binding_names_settings_not_values() -> None:
    binding = bindings_by_function()["mis_uploaded"]
    assert binding["type"] == "blobTrigger"
    assert binding["name"] == "blob"
    assert binding["path"] == "%MIS_CONTAINER%/{name}"
    assert binding["connection"] == "MisStorage"


def test_blob_trigger_is_event_grid_and_takes_an_sdk_blob_client() -> None:
    """Flex Consumption fires blob triggers only from Event Grid; the SDK type means the
    host hands over a client, never the content."""
    assert bindings_by_function()["mis_uploaded"]["source"] == "EventGrid"
    hosted = devhost.discover_functions(function_app.app, Settings())
    assert {blob.name for blob in hosted.blob_functions} == {
        "mis_uploaded",
        "remittance_uploaded",
        "wallet_confirmation_uploaded",
    }
    for blob in hosted.blob_functions:
        assert blob.parameter_type is blob_types.BlobClient
        assert blob.source == "EventGrid"


def test_blob_trigger_source_is_a_documented_setting(tmp_path: Any) -> None:
    probe = (
        "import function_app, localdev.discovery as d; "
        "fs = {f.get_function_name(): f for f in d.indexed_functions(function_app.app)}; "
        "print(fs['mis_uploaded'].get_trigger().get_dict_repr()['source'])"
    )

    def source_with(value: str) -> subprocess.CompletedProcess[str]:
        return index_in_a_fresh_worker({"PAYOUT_BLOB_TRIGGER_SOURCE": value}, probe=probe)

    assert source_with("LogsAndContainerScan").stdout.strip() == "LogsAndContainerScan"
    assert source_with("").stdout.strip() == "EventGrid"
    wrong = source_with("Polling")
    assert wrong.returncode != 0
    assert "PAYOUT_BLOB_TRIGGER_SOURCE" in wrong.stderr


def test_poison_queue_function_reads_the_blob_trigger_poison_queue() -> None:
    binding = bindings_by_function()["blob_poisoned"]
    assert binding["type"] == "queueTrigger"
    assert binding["queueName"] == "webjobs-blobtrigger-poison"
    # The host writes a blob trigger's poison messages into the trigger's own account.
    assert binding["connection"] == bindings_by_function()["mis_uploaded"]["connection"]


def test_reconciliation_triggers_watch_their_own_containers() -> None:
    binding = bindings_by_function()["remittance_uploaded"]
    assert (binding["type"], binding["path"], binding["connection"], binding["source"]) == (
        "blobTrigger",
        "%REMITTANCE_CONTAINER%/{name}",
        "MisStorage",
        "EventGrid",
    )
    binding = bindings_by_function()["wallet_confirmation_uploaded"]
    assert (binding["type"], binding["path"], binding["connection"], binding["source"]) == (
        "blobTrigger",
        "%WALLET_CONFIRMATION_CONTAINER%/{name}",
        "MisStorage",
        "EventGrid",
    )


def test_timer_trigger_binding() -> None:
    binding = bindings_by_function()["iteration_summary"]
    assert binding["type"] == "timerTrigger"
    assert binding["name"] == "timer"
    assert binding["schedule"] == "%SUMMARY_SCHEDULE%"
    assert binding["runOnStartup"] is False
    assert binding["useMonitor"] is True


def test_review_page_binding_is_anonymous_because_easy_auth_guards_it() -> None:
    binding = bindings_by_function()["review"]
    assert binding["type"] == "httpTrigger"
    assert binding["route"] == "review"
    assert str(binding["authLevel"].value) == "anonymous"
    assert {method.value for method in binding["methods"]} == {"GET", "POST"}


def test_the_default_summary_schedule_is_hourly_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUMMARY_SCHEDULE", raising=False)
    get_settings.cache_clear()
    hosted = devhost.discover_functions(function_app.app, get_settings())
    (timer,) = hosted.timer_functions
    assert timer.schedule.expression == "0 0 * * * *"


def test_local_host_resolves_the_bindings_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIS_CONTAINER", "inbox-from-env")
    monkeypatch.setenv("SUMMARY_SCHEDULE", "0 */5 * * * *")
    get_settings.cache_clear()
    hosted = devhost.discover_functions(function_app.app, get_settings())
    [blob] = [function for function in hosted.blob_functions if function.name == "mis_uploaded"]
    assert (blob.name, blob.container, blob.connection_setting) == (
        "mis_uploaded",
        "inbox-from-env",
        "MisStorage",
    )
    assert blob.name_pattern.match("2023/10/bank_a.csv")
    assert hosted.timer_functions[0].schedule.minutes == tuple(range(0, 60, 5))


def test_unknown_setting_in_a_binding_is_an_error() -> None:
    with pytest.raises(devhost.HostConfigError, match="NO_SUCH_SETTING"):
        devhost.resolve_setting_references("%NO_SUCH_SETTING%/{name}", get_settings())


def test_importing_function_app_is_fast_and_loads_nothing_heavy() -> None:
    probe = (
        "import sys, time; started = time.perf_counter(); import function_app; "
        "elapsed = time.perf_counter() - started; "
        "heavy = sorted(m for m in ('polars', 'psycopg', 'payout_core.flows.mis_processing') "
        "if m in sys.modules); print(elapsed, ','.join(heavy))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    elapsed_text, _, heavy = completed.stdout.strip().partition(" ")
    assert float(elapsed_text) < COLD_START_SECONDS_MAX
    assert heavy == ""


def test_blob_function_passes_the_container_and_blob_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(triggers, "handle_mis_blob", calls.append)
    # What the extension builds from the host's binding data; no request is made here.
    service = BlobServiceClient.from_connection_string(Settings().storage_connection_string)
    function_app.mis_uploaded(service.get_blob_client("mis-inbox", "2023/10/bank_a.csv"))
    assert calls == ["mis-inbox/2023/10/bank_a.csv"]


def test_poison_function_passes_the_message_and_its_dequeue_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[dict, int]] = []
    monkeypatch.setattr(
        triggers,
        "handle_poisoned_blob",
        lambda body, *, dequeue_count: calls.append((body, dequeue_count)),
    )
    body = {"Type": "BlobTrigger", "ContainerName": "mis-inbox", "BlobName": "a.csv"}
    message = func.queue.QueueMessage(body=json.dumps(body).encode(), dequeue_count=3)
    function_app.blob_poisoned(message)
    assert calls == [(body, 3)]


def test_timer_function_passes_past_due(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(triggers, "run_summary_timer", lambda past_due: calls.append(past_due))
    function_app.iteration_summary(func.timer.TimerRequest(past_due=True))
    function_app.iteration_summary(func.timer.TimerRequest())
    assert calls == [True, False]


def test_local_settings_example_lists_every_setting_the_app_reads() -> None:
    example = json.loads((PROJECT_ROOT / "local.settings.example.json").read_text())
    assert example["IsEncrypted"] is False
    values = example["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsFeatureFlags"] == "EnableWorkerIndexing"
    assert values["AzureWebJobsStorage"] == values["MisStorage"] == "UseDevelopmentStorage=true"
    aliases = {field.alias for field in Settings.model_fields.values()}
    # Identity-based connections are for Azure; locally an empty one would confuse Core Tools.
    identity_only = {alias for alias in aliases if alias and "__" in alias}
    assert aliases - identity_only - set(values) == set()


def test_local_settings_example_values_are_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = json.loads((PROJECT_ROOT / "local.settings.example.json").read_text())["Values"]
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.database_url is None  # empty means the default (embedded server)
    assert settings.summary_schedule == "0 0 * * * *"


def test_host_json() -> None:
    host = json.loads((PROJECT_ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    assert host["telemetryMode"] == "OpenTelemetry"
    config = HostConfig.from_host_json(PROJECT_ROOT / "host.json")
    assert config.poison_blob_threshold == host["extensions"]["blobs"]["poisonBlobThreshold"]
    assert config.max_degree_of_parallelism >= 1
    # The poison handler's last attempt is the queue's last dequeue.
    assert config.max_dequeue_count == refusals.POISON_HANDLER_ATTEMPTS_MAX


def test_blob_helpers() -> None:
    assert triggers.split_blob_path("mis-inbox/2023/10/a.csv", "x") == (
        "mis-inbox",
        "2023/10/a.csv",
    )
    assert triggers.split_blob_path("a.csv", "mis-inbox") == ("mis-inbox", "a.csv")


AZURE_SETTINGS = {
    "WEBSITE_INSTANCE_ID": "0123456789abcdef",
    "PAYOUT_DATABASE_URL": "postgresql://payout@server.postgres.database.azure.com/payout",
    "PAYOUT_DATABASE_AUTH": "entra",
    "MisStorage__blobServiceUri": "https://account.blob.core.windows.net",
    "MisStorage__queueServiceUri": "https://account.queue.core.windows.net",
    "MisStorage__credential": "managedidentity",
    "MisStorage__clientId": "00000000-0000-0000-0000-000000000001",
    "AzureWebJobsStorage__accountName": "account",
    "MIS_CONTAINER": "mis-inbox",
    "REMITTANCE_CONTAINER": "remittance-inbox",
    "WALLET_CONFIRMATION_CONTAINER": "wallet-confirmations",
    "SUMMARY_SCHEDULE": "0 0 6 * * *",
    "PAYOUT_EMAIL_SENDER": "acs",
    "ACS_ENDPOINT": "https://acs.communication.azure.com",
    "PAYOUT_EMAIL_FROM": "DoNotReply@payouts.example.com",
    "PAYOUT_EMAIL_TO": "finance@example.com",
    "PAYOUT_REVIEW_SECRET": "a-long-random-secret-from-key-vault-0123456789",
}


def index_in_a_fresh_worker(
    environment: dict[str, str],
    probe: str = "import function_app; print(len(function_app.app.get_functions()))",
) -> subprocess.CompletedProcess[str]:
    """`probe` run as a new Python worker would, with only `environment` set."""
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**_clean_env(), **environment},
    )


def test_azure_style_settings_index_the_app() -> None:
    indexed = index_in_a_fresh_worker(AZURE_SETTINGS)
    assert indexed.returncode == 0, indexed.stderr
    assert indexed.stdout.strip() == str(len(FUNCTION_NAMES))


@pytest.mark.parametrize(
    ("left_out", "named"),
    [
        ("PAYOUT_DATABASE_URL", "PAYOUT_DATABASE_URL"),
        ("MIS_CONTAINER", "MIS_CONTAINER"),
        ("REMITTANCE_CONTAINER", "REMITTANCE_CONTAINER"),
        ("WALLET_CONFIRMATION_CONTAINER", "WALLET_CONFIRMATION_CONTAINER"),
        ("SUMMARY_SCHEDULE", "SUMMARY_SCHEDULE"),
        ("PAYOUT_EMAIL_SENDER", "PAYOUT_EMAIL_SENDER"),
        ("PAYOUT_EMAIL_TO", "PAYOUT_EMAIL_TO"),
        ("ACS_ENDPOINT", "ACS_ENDPOINT"),
        ("MisStorage__blobServiceUri", "MisStorage (or MisStorage__blobServiceUri)"),
        ("MisStorage__queueServiceUri", "MisStorage__queueServiceUri"),
        ("AzureWebJobsStorage__accountName", "AzureWebJobsStorage"),
        ("PAYOUT_REVIEW_SECRET", "PAYOUT_REVIEW_SECRET"),
    ],
)
def test_in_azure_a_missing_setting_stops_start_up_naming_it(left_out: str, named: str) -> None:
    """No silent Azurite, outbox or example.com default once deployed."""
    environment = {k: v for k, v in AZURE_SETTINGS.items() if k != left_out}
    indexed = index_in_a_fresh_worker(environment)
    assert indexed.returncode != 0
    assert "ConfigurationError" in indexed.stderr
    assert named in indexed.stderr


def test_in_azure_a_short_review_secret_stops_start_up() -> None:
    indexed = index_in_a_fresh_worker({**AZURE_SETTINGS, "PAYOUT_REVIEW_SECRET": "short"})
    assert indexed.returncode != 0
    # Refused when the settings are read, as every bad setting is (issue 26): the sentence
    # says how long it is, never what it holds.
    assert (
        "PAYOUT_REVIEW_SECRET is a value of 5 characters (not shown): expected at least 32"
        in indexed.stderr
    )
    assert "short" not in indexed.stderr


def test_outside_azure_the_local_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEBSITE_INSTANCE_ID", "MisStorage", "PAYOUT_EMAIL_SENDER"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert "127.0.0.1:10000" in (settings.storage_connection_string or "")
    assert settings.email_sender == "outbox"
    monkeypatch.setenv("MisStorage__blobServiceUri", "https://account.blob.core.windows.net")
    identity_based = Settings()
    assert identity_based.storage_connection_string is None
    assert identity_based.storage_uses_identity
