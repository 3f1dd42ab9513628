"""The Functions doorway as the host sees it: bindings, settings files, cold-start cost.

The functions are also called directly here with func.InputStream / func.TimerRequest,
with payout_core's bodies replaced, to prove the doorway passes what the host gives it;
tests/e2e calls them for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import azure.functions as func
import pytest

import function_app
from localdev import devhost
from payout_core import functions
from payout_core.settings import PROJECT_ROOT, Settings, get_settings

COLD_START_SECONDS_MAX = 2.0


def bindings_by_function() -> dict[str, dict[str, Any]]:
    return {
        function.get_function_name(): function.get_trigger().get_dict_repr()
        for function in devhost.indexed_functions(function_app.app)
    }


def test_the_app_has_exactly_its_three_functions() -> None:
    expected = {"mis_uploaded", "iteration_summary", "review"}
    assert set(bindings_by_function()) == expected
    # Twice: the local host and the tests index the same app more than once per process.
    assert set(bindings_by_function()) == expected


def test_blob_trigger_binding_names_settings_not_values() -> None:
    binding = bindings_by_function()["mis_uploaded"]
    assert binding["type"] == "blobTrigger"
    assert binding["name"] == "blob"
    assert binding["path"] == "%MIS_CONTAINER%/{name}"
    assert binding["connection"] == "MisStorage"


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
    (blob,) = hosted.blob_functions
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
        "heavy = sorted(m for m in ('polars', 'psycopg', 'payout_core.pipeline') "
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


def test_blob_function_passes_the_blob_name_and_properties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        functions,
        "handle_mis_blob",
        lambda name, *, blob_properties=None: calls.append((name, blob_properties)),
    )
    blob = func.blob.InputStream(
        data=b"never read", name="mis-inbox/bank_a.csv", blob_properties={"ETag": '"0x1"'}
    )
    function_app.mis_uploaded(blob)
    assert calls == [("mis-inbox/bank_a.csv", {"ETag": '"0x1"'})]


def test_timer_function_passes_past_due(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(functions, "run_summary_timer", lambda past_due: calls.append(past_due))
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
    assert aliases - set(values) == set()


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
    assert host["functionTimeout"] == "00:10:00"
    config = devhost.HostConfig.from_host_json(PROJECT_ROOT / "host.json")
    assert config.poison_blob_threshold == host["extensions"]["blobs"]["poisonBlobThreshold"]
    assert config.max_degree_of_parallelism >= 1


def test_blob_helpers() -> None:
    assert functions.split_blob_path("mis-inbox/2023/10/a.csv", "x") == (
        "mis-inbox",
        "2023/10/a.csv",
    )
    assert functions.split_blob_path("a.csv", "mis-inbox") == ("mis-inbox", "a.csv")
    assert functions.etag_from_properties({"Etag": '"0x9"'}) == '"0x9"'
    assert functions.etag_from_properties(None) is None
