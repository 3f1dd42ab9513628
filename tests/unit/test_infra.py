"""infra/ against the code: what Azure gets is what the app reads, both ways (issue 27).

- Every setting the app requires in Azure (settings.check_deployment, run here on an
  environment made of infra's app settings) and every `%SETTING%` and connection that
  function_app.py names is set by infra/app.bicep.
- Every setting infra sets is one the code reads, or one the platform reads (listed below
  with who reads it).
- Each blob trigger has its Event Grid subscription, filtered to the container its
  `%SETTING%` names, and every container the settings name exists.
- host.json's functionTimeout covers a file at the MIS size limit.

Bicep is read as text: this machine has no Bicep compiler (README, "Deploying to Azure").
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from payout_core import settings as app_settings
from payout_core.adapters import telemetry
from payout_core.errors import ConfigurationError
from payout_core.setting_values import expected_of
from payout_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APP_BICEP = (ROOT / "infra" / "app.bicep").read_text()
SUBSCRIPTIONS_BICEP = (ROOT / "infra" / "event-subscriptions.bicep").read_text()
FUNCTION_APP = (ROOT / "function_app.py").read_text()

# Set by infra, read by the platform rather than by payout_core: name -> who reads it.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__credential": "the Functions host (its identity-based storage)",
    "AzureWebJobsStorage__clientId": "the Functions host (which user-assigned identity)",
    "MisStorage__credential": "the Functions host (the triggers' identity-based connection)",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "the host and Azure Monitor's exporter (Entra)",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "the Python worker (configures OpenTelemetry)",
    "AZURE_CLIENT_ID": "azure-identity's DefaultAzureCredential (the ACS email client)",
}

# The 10M-row benchmark (README, "Benchmark"): 649 MiB in 193.7 s on the 2-core dev machine.
BENCHMARK_BYTES_PER_SECOND = 649 * 2**20 / 193.7
# A Flex Consumption instance (2048 MB) and a Burstable server are slower than that machine
# with its local database: a file at the limit must fit five times over.
TIMEOUT_HEADROOM = 5


def _bicep_vars(text: str) -> dict[str, str]:
    """`var name = 'text'` and `var name = 123` of a Bicep file."""
    return {
        name: (quoted if quoted is not None and quoted != "" else number)
        for name, quoted, number in re.findall(
            r"^var (\w+) = (?:'([^']*)'|(\d+))\s*(?://.*)?$", text, re.MULTILINE
        )
    }


def _app_settings() -> dict[str, str]:
    """The function app's appSettings: name -> value, `${var}` resolved where the var is a
    literal, any other expression left as `${...}`."""
    block = APP_BICEP[APP_BICEP.index("appSettings: [") : APP_BICEP.index("\n      ]\n")]
    variables = _bicep_vars(APP_BICEP)
    pairs = re.findall(r"name: '([^']+)'\s*\n\s*value: '([^']*)'", block)
    resolved = {}
    for name, value in pairs:
        resolved[name] = re.sub(
            r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), value
        )
    assert len(resolved) == len(pairs), "a setting is set twice"
    return resolved


def _azure_environment(infra: dict[str, str]) -> dict[str, str]:
    """What the platform would hand the app: infra's settings, an expression standing for
    a non-empty value where a text is expected (of the setting's shape: its `Expected`
    example) and for "unset" where a number is."""
    fields = {field.alias: field for field in Settings.model_fields.values() if field.alias}
    environment = {app_settings.AZURE_INSTANCE_SETTING: "instance"}
    for name, value in infra.items():
        if "${" in value:
            field = fields.get(name)
            numeric = field is not None and any(
                kind in repr(field.annotation) for kind in ("int", "float", "Decimal", "bool")
            )
            expected = expected_of(field) if field is not None else None
            shaped = expected.example if expected is not None else ""
            value = "" if numeric else shaped or "resolved-by-azure-resource-manager"
        environment[name] = value
    return environment


def _function_app_names() -> tuple[set[str], set[str]]:
    """The `%SETTING%`s and the `connection=` names function_app.py's bindings use."""
    return set(re.findall(r'(?:path|schedule)="%(\w+)%', FUNCTION_APP)), set(
        re.findall(r'connection="(\w+)"', FUNCTION_APP)
    )


def _blob_triggers() -> dict[str, str]:
    """function name -> the setting naming the container its blob trigger watches."""
    return dict(
        (function, setting)
        for setting, function in re.findall(
            r'@app\.blob_trigger\(.*?path="%(\w+)%/\{name\}".*?\)\s*\ndef (\w+)\(',
            FUNCTION_APP,
            re.DOTALL,
        )
    )


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment holds infra's settings and nothing else the app reads."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    environment = _azure_environment(_app_settings())
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    app_settings.get_settings.cache_clear()
    yield environment
    app_settings.get_settings.cache_clear()


def test_what_the_app_requires_in_azure_is_set_by_infra(azure: dict[str, str]) -> None:
    app_settings.check_deployment()  # raises ConfigurationError naming what is missing
    assert app_settings.get_settings().email_sender == "acs"
    assert app_settings.get_settings().database_auth == "entra"
    assert app_settings.get_settings().storage_uses_identity


def test_the_check_would_see_a_required_setting_missing(
    azure: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYOUT_REVIEW_SECRET")
    with pytest.raises(ConfigurationError, match="PAYOUT_REVIEW_SECRET"):
        app_settings.check_deployment()


def test_every_binding_setting_and_connection_is_set_by_infra() -> None:
    infra = _app_settings()
    percent_settings, connections = _function_app_names()
    assert percent_settings >= {"MIS_CONTAINER", "SUMMARY_SCHEDULE"}
    assert percent_settings <= set(infra), percent_settings - set(infra)
    for connection in connections:
        # Identity-based: the blob triggers need the blob endpoint, the poison queue's
        # trigger the queue endpoint, and the host the identity to use.
        assert {
            f"{connection}__blobServiceUri",
            f"{connection}__queueServiceUri",
            f"{connection}__credential",
            f"{connection}__clientId",
        } <= set(infra), connection


def test_every_setting_infra_sets_is_read_by_the_code_or_the_platform() -> None:
    read_by_settings = {field.alias for field in Settings.model_fields.values() if field.alias}
    percent_settings, _ = _function_app_names()
    read_elsewhere = {  # by name, outside the Settings model
        app_settings.BLOB_TRIGGER_SOURCE_SETTING,  # function_app.py, when the worker indexes it
        telemetry.CONNECTION_STRING_SETTING,
    }
    read = read_by_settings | percent_settings | read_elsewhere | set(PLATFORM_SETTINGS)
    unread = set(_app_settings()) - read
    assert not unread, f"set in infra/app.bicep, read by nothing: {sorted(unread)}"
    # And the platform's list names nothing infra no longer sets.
    assert set(PLATFORM_SETTINGS) <= set(_app_settings())


def test_each_blob_trigger_has_its_event_grid_subscription_and_container() -> None:
    triggers = _blob_triggers()
    assert set(triggers) == {"mis_uploaded", "remittance_uploaded", "wallet_confirmation_uploaded"}
    subscribed = dict(
        re.findall(r"\{ function: '(\w+)', containerSetting: '(\w+)' \}", SUBSCRIPTIONS_BICEP)
    )
    assert subscribed == triggers
    assert "includedEventTypes: ['Microsoft.Storage.BlobCreated']" in SUBSCRIPTIONS_BICEP
    assert "deadLetterWithResourceIdentity" in SUBSCRIPTIONS_BICEP
    infra = _app_settings()
    containers_named = {
        infra[setting]
        for setting in (
            *triggers.values(),
            "PAYOUT_OUTPUT_CONTAINER",
            "PAYOUT_QUARANTINE_CONTAINER",
        )
    }
    variables = _bicep_vars(APP_BICEP)
    created = {
        variables[name]
        for name in re.findall(r"^    (\w+Container)$", APP_BICEP, re.MULTILINE)
    } | {variables["deadLetterContainer"]}
    assert containers_named <= created, containers_named - created
    assert "name: deadLetterContainer" in APP_BICEP


def test_the_function_timeout_covers_a_file_at_the_size_limit() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    timeout = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    for limit_bytes in (
        int(_app_settings()["PAYOUT_MIS_MAX_FILE_BYTES"]),
        Settings.model_fields["mis_max_file_bytes"].default,
    ):
        needed = timedelta(seconds=limit_bytes / BENCHMARK_BYTES_PER_SECOND)
        assert needed * TIMEOUT_HEADROOM <= timeout, (limit_bytes, needed, timeout)
    # 2 GiB at the benchmark's pace: about 610 s (README, "Deploying to Azure").
    assert 600 < (2 * 1024**3) / BENCHMARK_BYTES_PER_SECOND < 620
