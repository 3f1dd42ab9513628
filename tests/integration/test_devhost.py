"""The local host's trigger semantics on Azurite, with a tiny app of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import pytest

from localdev import devhost
from payout_core import storage
from payout_core.settings import Settings, get_settings

pytestmark = pytest.mark.integration


def build(app: func.FunctionApp, tmp_path: Path, threshold: int = 3) -> devhost.LocalHost:
    host_json = tmp_path / "host.json"
    host_json.write_text(
        json.dumps({"version": "2.0", "extensions": {"blobs": {"poisonBlobThreshold": threshold}}})
    )
    return devhost.build_host(app=app, local_settings_path=None, host_json_path=host_json)


@pytest.fixture
def env(storage_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PAYOUT_HOST_RETRY_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    return get_settings()


def test_blob_receipts_retries_and_new_etags(env: Settings, tmp_path: Path) -> None:
    seen: list[tuple[str | None, bytes]] = []
    failures_left = {"a.csv": 1}
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="blob", path="%MIS_CONTAINER%/{name}", connection="MisStorage")
    def on_blob(blob: func.InputStream) -> None:
        seen.append((blob.name, blob.read()))
        name = (blob.name or "").split("/", 1)[1]
        if failures_left.get(name, 0) > 0:
            failures_left[name] -= 1
            raise RuntimeError("transient")

    client = storage.service_client(settings=env)
    storage.ensure_containers(client, (env.mis_container,))
    inbox = client.get_container_client(env.mis_container)
    inbox.upload_blob("a.csv", b"one")
    inbox.upload_blob("folder/b.csv", b"two")

    assert build(app, tmp_path).drain_blobs() == devhost.EXIT_OK
    # a.csv failed once and was retried; the lazy stream downloads when read.
    assert sorted(seen) == sorted(
        [
            (f"{env.mis_container}/a.csv", b"one"),
            (f"{env.mis_container}/a.csv", b"one"),
            (f"{env.mis_container}/folder/b.csv", b"two"),
        ]
    )

    seen.clear()
    assert build(app, tmp_path).drain_blobs() == devhost.EXIT_OK  # a restart: receipts hold
    assert seen == []

    inbox.upload_blob("a.csv", b"one again", overwrite=True)  # new ETag: runs again
    assert build(app, tmp_path).drain_blobs() == devhost.EXIT_OK
    assert seen == [(f"{env.mis_container}/a.csv", b"one again")]


def test_past_due_timer_runs_at_start_up(env: Settings, tmp_path: Path) -> None:
    calls: list[func.TimerRequest] = []
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *", use_monitor=True)
    def tick(timer: func.TimerRequest) -> None:
        calls.append(timer)

    host = build(app, tmp_path)
    (timer,) = host.functions.timer_functions
    now = datetime(2023, 10, 2, 10, 30, tzinfo=UTC)
    missed = now - timedelta(minutes=30)
    host.host_storage.write_timer_status(
        timer.function_id, {"Last": "", "Next": missed.isoformat(), "LastUpdated": ""}
    )

    next_due = host.start_timers(now)

    assert [call.past_due for call in calls] == [True]
    assert calls[0].schedule_status["Last"] == missed.isoformat()
    assert next_due["tick"] == datetime(2023, 10, 2, 11, 0, tzinfo=UTC)
    host.run_due_timers(next_due, datetime(2023, 10, 2, 11, 0, 1, tzinfo=UTC))
    assert [call.past_due for call in calls] == [True, False]
    status = host.host_storage.read_timer_status(timer.function_id)
    assert status is not None and status["Next"] == "2023-10-02T12:00:00+00:00"
