"""Stopping `payout host` the way process managers do (SIGTERM) leaves nothing running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from payout_core.settings import Settings
from tests.e2e.browser import spawn_payout_host, wait_until_listening

STOP_SECONDS = 60
RUNNING = "host running"


def test_sigterm_stops_the_host_and_the_embedded_postgres_it_started(
    storage_env: Settings, tmp_state: Path, tmp_path: Path
) -> None:
    environment = {**os.environ, "PAYOUT_REVIEW_SECRET": "e2e-" + "x" * 40}
    environment.pop("PAYOUT_DATABASE_URL", None)  # the host starts the embedded server
    server_pid_file = tmp_state / "pgdata" / "postmaster.pid"
    log_path = tmp_path / "host.log"
    with log_path.open("wb") as log_file:
        host = spawn_payout_host(environment, log_file)
        try:
            wait_until_listening(host, log_path)  # HTTP first, then the triggers
            while RUNNING not in log_path.read_text() and host.poll() is None:
                time.sleep(0.1)
            assert server_pid_file.exists()
            host.send_signal(signal.SIGTERM)
            exit_code = host.wait(timeout=STOP_SECONDS)
        finally:
            if host.poll() is None:
                host.kill()
                host.wait(timeout=STOP_SECONDS)
    left_running = server_pid_file.exists()
    if left_running:  # not left behind by this test, whatever the host did
        os.kill(int(server_pid_file.read_text().split()[0]), signal.SIGTERM)
    assert exit_code == 0, log_path.read_text()
    assert not left_running, "the embedded PostgreSQL is still running"
