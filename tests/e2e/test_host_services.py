"""`payout host` as the README's local development runs it: a fresh state folder, no Docker,
no MisStorage (issue 26, item 5).

The host starts the embedded PostgreSQL and an Azurite of its own, serves the review page
and processes a file uploaded into that Azurite. A service it started that goes away ends
it with one line on stderr and exit code 1; a configured one that goes away is one line,
and the host carries on once it answers again. Never a traceback.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest
from azure.storage.blob import BlobServiceClient

from localdev import embedded
from payout_core.adapters import storage
from payout_core.settings import PROJECT_ROOT, Settings
from tests.e2e.browser import payout_program
from tests.e2e.browser import run_payout as payout

pytestmark = pytest.mark.e2e

SAMPLES = PROJECT_ROOT / "samples"
MIS_FILE = SAMPLES / "mis" / "bank_a_savings_account_2023-10-03.csv"
WAIT_SECONDS = 60
SETTINGS = {field.alias for field in Settings.model_fields.values()}


def operator_environment(state_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a person who set nothing but where the state goes (a quick poll,
    no summary email while the test runs), plus `settings`."""
    environment = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    environment.update(
        PAYOUT_STATE_DIR=str(state_dir),
        PAYOUT_HOST_POLL_INTERVAL_SECONDS="0.5",
        SUMMARY_SCHEDULE="0 0 0 1 1 *",  # not during a test: the hourly default could
        **settings,
    )
    return environment


class Host:
    """A `payout host` process, its stderr kept in a file."""

    def __init__(self, process: subprocess.Popen[bytes], stderr_path: Path) -> None:
        self.process = process
        self.stderr_path = stderr_path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while text not in self.stderr():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} from payout host:\n{self.stderr()}")
            time.sleep(0.1)

    def children(self, command_part: str) -> list[psutil.Process]:
        return [
            child
            for child in psutil.Process(self.process.pid).children(recursive=True)
            if command_part in " ".join(child.cmdline())
        ]

    def exit_code(self) -> int:
        return self.process.wait(timeout=WAIT_SECONDS)

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr().splitlines() if " ERROR " in line]


@contextmanager
def payout_host(environment: dict[str, str], tmp_path: Path, *arguments: str) -> Iterator[Host]:
    stderr_path = tmp_path / "host.stderr"
    with stderr_path.open("wb") as stderr, (tmp_path / "host.stdout").open("wb") as stdout:
        process = subprocess.Popen(
            [payout_program(), "host", *arguments],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        host = Host(process, stderr_path)
        try:
            host.wait_for("host running")
            yield host
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=WAIT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=WAIT_SECONDS)


def http_request(
    port: int, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    answer = response.status, dict(response.getheaders()), response.read().decode()
    connection.close()
    return answer


def upload(connection_string: str, container: str, path: Path) -> None:
    client = BlobServiceClient.from_connection_string(connection_string)
    storage.ensure_containers(client, [container])  # an Azurite killed may have lost it
    client.get_blob_client(container, path.name).upload_blob(path.read_bytes(), overwrite=True)


def test_on_a_fresh_state_it_serves_the_page_processes_a_file_and_ends_when_its_azurite_dies(
    tmp_path: Path,
) -> None:
    environment = operator_environment(tmp_path / "state")
    payout(environment, "db", "migrate")
    payout(environment, "rules", "load", str(SAMPLES / "payin_payout_rules.csv"))
    payout(environment, "leads", "load", str(SAMPLES / "leads.csv"))
    port = embedded.free_port()

    with payout_host(environment, tmp_path, "--http-port", str(port)) as host:
        # The local sign-in lands on the review page, which answers.
        status, headers, _ = http_request(
            port,
            "POST",
            "/.auth/login/dev",
            body=urlencode({"name": "Finance Checker"}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (status, headers["Location"]) == (302, "/api/review")
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        status, _, page = http_request(port, "GET", "/api/review", headers={"Cookie": cookie})
        assert status == 200 and "Held payouts" in page

        # A file uploaded into the host's own Azurite is processed.
        storage = re.search(r"MisStorage=(\S+)", host.stderr())
        assert storage, host.stderr()
        upload(storage.group(1), "mis-inbox", MIS_FILE)
        host.wait_for("Executed 'Functions.mis_uploaded' (Succeeded")
        outputs = BlobServiceClient.from_connection_string(storage.group(1))
        success = outputs.get_blob_client("mis-outputs", f"success/{MIS_FILE.stem}.success.csv")
        assert success.exists()
        assert not host.error_lines()

        [azurite_blob] = host.children("azurite-blob")
        azurite_blob.kill()
        exit_code = host.exit_code()

    assert exit_code == 1
    [line] = host.error_lines()
    assert "Azurite, started by this host" in line and "has stopped" in line
    assert "the host stops (exit code 1)" in line
    assert "Traceback" not in host.stderr()
    assert not (tmp_path / "state" / "pgdata" / "postmaster.pid").exists()  # stopped too


def test_when_its_postgresql_stops_the_host_says_so_in_one_line_and_exits_1(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    with payout_host(operator_environment(state_dir), tmp_path) as host:
        # Never migrated: said once at start-up, naming the command that fixes it.
        assert "the ledger database is not migrated" in host.stderr()
        assert "run `payout db migrate`; files wait in their containers" in host.stderr()
        azurite = host.children("azurite-")
        assert len(azurite) == 2  # blob and queue, started because MisStorage is unset

        server_pid = int((state_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        os.kill(server_pid, signal.SIGKILL)
        exit_code = host.exit_code()

    assert exit_code == 1
    [line] = host.error_lines()
    assert f"the embedded PostgreSQL ({state_dir / 'pgdata'}) has stopped" in line
    assert "the host stops (exit code 1)" in line
    assert "Traceback" not in host.stderr()
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE
                   for process in azurite)  # fmt: skip


def test_configured_storage_that_goes_away_is_one_line_and_the_host_carries_on_when_it_is_back(
    tmp_path: Path,
) -> None:
    with embedded.Azurite(tmp_path / "azurite") as azurite:
        environment = operator_environment(
            tmp_path / "state",
            MisStorage=azurite.connection_string,
            # No SDK retries (15 s, 45 s...): a pass the outage interrupts fails at once.
            PAYOUT_STORAGE_RETRY_TOTAL="0",
        )
        payout(environment, "db", "migrate")
        with payout_host(environment, tmp_path) as host:
            assert not host.children("azurite-")  # MisStorage is set: nothing started
            os.kill(azurite.pids[0], signal.SIGKILL)  # the blob service
            host.wait_for("does not answer")
            time.sleep(2)  # four polls: still one line
            azurite.start_again()
            host.wait_for("answers again")

            # A file waiting meanwhile is processed once storage is back.
            broken = SAMPLES / "mis_broken" / "bank_a_unknown_product.csv"
            upload(azurite.connection_string, "mis-inbox", broken)
            host.wait_for("Executed 'Functions.mis_uploaded' (Succeeded")
            assert host.process.poll() is None
        assert host.exit_code() == 0  # Ctrl-C

    [line] = [line for line in host.error_lines() if "does not answer" in line]
    assert f"storage MisStorage (127.0.0.1:{azurite.blob_port}) does not answer" in line
    assert "the host retries every 0.5 s; files wait in their containers" in line
    assert "Traceback" not in host.stderr()
    assert "host pass failed" not in host.stderr()  # nothing ran into the outage
