"""Local stand-ins for the Azure services, for development, the demo and the tests.

- PostgreSQL: an embedded server (`pgserver`) whose data lives under the state folder and
  which is reached through a unix socket, so it never fights over a TCP port.
- Blob + Queue Storage: Azurite from the project's `node_modules`, on free ports picked at
  run time so several runs (a demo and a test session) can coexist on one machine.

Nothing here is used in Azure: there, PAYOUT_DATABASE_URL and MisStorage point at the real
services and this module is never imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from payout_core.errors import PayoutError
from payout_core.settings import PROJECT_ROOT, azurite_connection_string, checkout_root

log = logging.getLogger(__name__)

AZURITE_START_TIMEOUT_SECONDS = 30.0
AZURITE_STOP_TIMEOUT_SECONDS = 5.0
AZURITE_START_ATTEMPTS = 3  # a port picked as free can be taken before Azurite binds it
LOG_TAIL_BYTES = 4000


class EmbeddedServiceError(PayoutError):
    """A local service could not be started; the message says why and what to do."""


# --- PostgreSQL ----------------------------------------------------------------------------

# Handles keyed by data folder. pgserver stops the server when its handle's process exits
# (atexit), so the handle must stay referenced for as long as this process uses the server.
_postgres_servers: dict[Path, Any] = {}
_postgres_lock = threading.Lock()

PostgresCleanupMode = Literal["stop", "delete"]


def postgres_server(state_dir: Path, cleanup_mode: PostgresCleanupMode = "stop") -> Any:
    """Start (or reuse) the embedded server whose data is `state_dir / "pgdata"`.

    Returns the `pgserver.PostgresServer` handle; `postgres_url` is what most callers want.
    """
    data_dir = (Path(state_dir) / "pgdata").resolve()
    with _postgres_lock:
        server = _postgres_servers.get(data_dir)
        if server is None:
            try:
                import pgserver
            except ImportError as error:  # runtime requirements in Azure exclude it
                raise EmbeddedServiceError(
                    "the embedded PostgreSQL needs pgserver (a dev dependency): run `make setup`,"
                    " or set PAYOUT_DATABASE_URL to an existing server"
                ) from error
            pgserver_log = logging.getLogger("pgserver")
            if pgserver_log.level == logging.NOTSET:
                # Its INFO lines echo every pg_ctl call: noise in an operator's terminal.
                pgserver_log.setLevel(logging.WARNING)
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            log.debug("starting embedded PostgreSQL in %s", data_dir)
            server = pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)
            _postgres_servers[data_dir] = server
        return server


def postgres_url(state_dir: Path) -> str:
    """libpq URL of the embedded PostgreSQL under `state_dir`, started on first use."""
    return str(postgres_server(state_dir).get_uri())


def started_postgres_data_dir(state_dir: Path) -> Path | None:
    """The data folder of the embedded server under `state_dir`, if this process started
    (or joined) it; None when the database is elsewhere."""
    data_dir = (Path(state_dir) / "pgdata").resolve()
    with _postgres_lock:
        return data_dir if data_dir in _postgres_servers else None


def stop_postgres(state_dir: Path) -> None:
    """Stop the embedded server under `state_dir` if this process started it."""
    data_dir = (Path(state_dir) / "pgdata").resolve()
    with _postgres_lock:
        server = _postgres_servers.pop(data_dir, None)
    if server is not None:
        log.debug("stopping embedded PostgreSQL in %s", data_dir)
        server.cleanup()


# --- Azurite -------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, ask the kernel to SIGTERM the child when this
    process dies, so a killed test run or demo never leaves an orphan Azurite behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def azurite_root() -> Path:
    """Whose `node_modules` has Azurite: the checkout the command runs in, else the app's."""
    checkout = checkout_root()
    installed = (checkout / "node_modules" / ".bin" / "azurite-blob").exists()
    return checkout if installed else PROJECT_ROOT


def _log_tail(path: Path) -> str:
    try:
        with path.open("rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - LOG_TAIL_BYTES))
            return log_file.read().decode("utf-8", errors="replace").strip() or "(empty log)"
    except OSError:
        return "(no log)"


class Azurite:
    """Azurite's blob and queue services on free ports, as a context manager.

    Table storage is not started: the app does not use it, and every process costs memory
    on a 2-core CI machine. Blob and queue run as two `node` processes sharing `location`
    (each keeps its own metadata file there).
    """

    def __init__(
        self,
        location: Path,
        *,
        project_root: Path | None = None,
        start_timeout_seconds: float = AZURITE_START_TIMEOUT_SECONDS,
    ) -> None:
        self.location = Path(location)
        self.project_root = Path(project_root or azurite_root())
        self.start_timeout_seconds = start_timeout_seconds
        self.host = "127.0.0.1"
        self.blob_port = 0
        self.queue_port = 0
        self._processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    @property
    def connection_string(self) -> str:
        if not self._processes:
            raise EmbeddedServiceError("Azurite is not running: call start() first")
        return azurite_connection_string(self.blob_port, self.queue_port)

    def _executable(self, service: str) -> Path:
        executable = self.project_root / "node_modules" / ".bin" / f"azurite-{service}"
        if not executable.exists():
            raise EmbeddedServiceError(
                f"Azurite is not installed ({executable} is missing): run `make setup`"
            )
        return executable

    def _spawn(self, service: str, port: int) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = self.location / f"azurite-{service}.log"
        command = [
            str(self._executable(service)),
            "--location", str(self.location),
            f"--{service}Host", self.host,
            f"--{service}Port", str(port),
            # The Python SDK speaks a newer REST API version than this Azurite release knows.
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",
        ]  # fmt: skip
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.location,
                # pdeathsig follows the spawning thread: start services from the main thread.
                preexec_fn=_die_with_parent,
            )
        return process, log_path

    def _wait_until_ready(self) -> None:
        deadline_seconds = time.monotonic() + self.start_timeout_seconds
        waiting = {
            port: (process, log_path)
            for (process, log_path), port in zip(
                self._processes, (self.blob_port, self.queue_port), strict=True
            )
        }
        while waiting:
            for port, (process, log_path) in list(waiting.items()):
                if process.poll() is not None:
                    raise EmbeddedServiceError(
                        f"Azurite exited with code {process.returncode} while starting on port"
                        f" {port}; end of {log_path}:\n{_log_tail(log_path)}"
                    )
                if _port_accepts(self.host, port):
                    del waiting[port]
            if not waiting:
                return
            if time.monotonic() > deadline_seconds:
                details = "\n".join(_log_tail(log_path) for _, log_path in waiting.values())
                raise EmbeddedServiceError(
                    f"Azurite did not accept connections on port(s) {sorted(waiting)} within"
                    f" {self.start_timeout_seconds:.0f} s; log tail:\n{details}"
                )
            time.sleep(0.1)

    def start(self) -> Azurite:
        """Start blob and queue, and return once both accept connections."""
        if self._processes:
            return self
        for service in ("blob", "queue"):
            self._executable(service)  # fail fast, and never retry, when it is not installed
        self.location.mkdir(parents=True, exist_ok=True)
        last_error: EmbeddedServiceError | None = None
        for _ in range(AZURITE_START_ATTEMPTS):
            self.blob_port = free_port(self.host)
            self.queue_port = free_port(self.host)
            if self.blob_port == self.queue_port:
                continue
            try:
                self._processes = [
                    self._spawn("blob", self.blob_port),
                    self._spawn("queue", self.queue_port),
                ]
                self._wait_until_ready()
            except EmbeddedServiceError as error:
                self.stop()
                last_error = error
                continue
            log.debug("Azurite blob on %d, queue on %d", self.blob_port, self.queue_port)
            return self
        raise last_error or EmbeddedServiceError("Azurite could not get two free ports")

    def stop(self) -> None:
        """Terminate both processes; kill what has not exited within the grace period."""
        processes, self._processes = self._processes, []
        for process, _ in processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=AZURITE_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=AZURITE_STOP_TIMEOUT_SECONDS)

    def start_again(self) -> None:
        """Start the services that stopped again, on their ports and with their data (an
        outage ends), and return once they accept connections."""
        ports = {"blob": self.blob_port, "queue": self.queue_port}
        for index, (process, log_path) in enumerate(self._processes):
            if process.poll() is not None:
                service = log_path.stem.removeprefix("azurite-")
                self._processes[index] = self._spawn(service, ports[service])
        self._wait_until_ready()

    def exit_codes(self) -> str:
        """Which of the started services have exited, and how ("" while both run)."""
        return ", ".join(
            f"{log_path.stem} exited with code {process.returncode}"
            for process, log_path in self._processes
            if process.poll() is not None
        )

    @property
    def pids(self) -> list[int]:
        return [process.pid for process, _ in self._processes]

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
