"""The local host's trigger semantics on Azurite, with tiny apps of their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob_types
import pytest
from azure.storage.blob import BlobClient

from localdev import blob_events, devhost, queues
from payout_core.adapters import storage
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

    next_due = host.timers.start(now)

    assert [call.past_due for call in calls] == [True]
    assert calls[0].schedule_status["Last"] == missed.isoformat()
    assert next_due["tick"] == datetime(2023, 10, 2, 11, 0, tzinfo=UTC)
    host.timers.run_due(next_due, datetime(2023, 10, 2, 11, 0, 1, tzinfo=UTC))
    assert [call.past_due for call in calls] == [True, False]
    status = host.host_storage.read_timer_status(timer.function_id)
    assert status is not None and status["Next"] == "2023-10-02T12:00:00+00:00"


def test_event_grid_trigger_gets_an_sdk_blob_client_built_from_the_connection_setting(
    env: Settings, tmp_path: Path
) -> None:
    received: list[tuple[type, str, str, bytes]] = []
    app = func.FunctionApp()

    @app.blob_trigger(
        arg_name="blob",
        path="%MIS_CONTAINER%/{name}",
        connection="MisStorage",
        source=func.BlobSource.EVENT_GRID,
    )
    def on_blob(blob: blob_types.BlobClient) -> None:
        # The function reads through the client itself; the host read nothing.
        received.append(
            (type(blob), blob.container_name, blob.blob_name, blob.download_blob().readall())
        )

    client = storage.service_client(settings=env)
    storage.ensure_containers(client, (env.mis_container,))
    inbox = client.get_container_client(env.mis_container)
    inbox.upload_blob("2023/10/a.csv", b"content")

    host = build(app, tmp_path)
    assert host.drain() == devhost.EXIT_OK
    assert received == [(BlobClient, env.mis_container, "2023/10/a.csv", b"content")]

    # An event for the same version (Event Grid delivers at least once) runs nothing twice.
    blob = inbox.get_blob_client("2023/10/a.csv")
    event = blob_events.blob_created_event(blob, blob.get_blob_properties())
    assert event["eventType"] == "Microsoft.Storage.BlobCreated"
    assert event["subject"].endswith(f"/containers/{env.mis_container}/blobs/2023/10/a.csv")
    assert host.deliver_blob_event(event) == []
    assert len(received) == 1


def test_queue_trigger_retries_then_moves_the_message_to_its_poison_queue(
    env: Settings, tmp_path: Path
) -> None:
    dequeue_counts: list[int] = []
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="message", queue_name="work-items", connection="MisStorage")
    def on_message(message: func.QueueMessage) -> None:
        dequeue_counts.append(message.dequeue_count)
        if message.get_json()["fail"]:
            raise RuntimeError("cannot")

    host_json = tmp_path / "host.json"
    host_json.write_text(json.dumps({"extensions": {"queues": {"maxDequeueCount": 2}}}))
    host = devhost.build_host(app=app, local_settings_path=None, host_json_path=host_json)
    work = queues.queue_client("MisStorage", "work-items", env)
    work.clear_messages()
    queues.queue_client("MisStorage", "work-items-poison", env).clear_messages()
    work.send_message(queues.encode({"fail": False}))
    work.send_message(queues.encode({"fail": True}))

    assert host.drain() == devhost.EXIT_OK

    assert sorted(dequeue_counts) == [1, 1, 2]
    poison = queues.queue_client("MisStorage", "work-items-poison", env)
    (poisoned,) = poison.peek_messages(max_messages=5)
    assert json.loads(queues.decode(poisoned.content)) == {"fail": True}
    assert work.get_queue_properties().approximate_message_count == 0
