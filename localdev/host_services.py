"""What `payout host` needs running: started when nothing is configured, watched while it runs.

- PostgreSQL: PAYOUT_DATABASE_URL unset means the embedded server under the state folder,
  which `payout` starts before any command (localdev/cli.py).
- Storage: MisStorage unset (and no MisStorage__blobServiceUri) means Azurite from
  `node_modules`, its data under `<state folder>/azurite`, on free ports as `make demo`
  starts it; MisStorage (and AzureWebJobsStorage, when unset) point at it.

Before each poll the host asks whether they still answer (`HostServices.check`):

- a service this host started that has stopped (its process is gone) ends the host:
  one line naming it, exit code 1. Nothing would bring it back; `payout host` again does.
- a configured service that does not answer gets one line naming it and saying that the
  host retries at every poll (files wait where they are), and one more when it answers
  again. Nothing is invoked meanwhile, so no file spends its retries on an outage.

Never a traceback: an outage is the operator's news, not a bug.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from localdev import embedded
from payout_core.settings import STORAGE_SETTING, Settings, get_settings

log = logging.getLogger("payout.host")

PROBE_TIMEOUT_SECONDS = 2.0
EMULATOR_BLOB_ADDRESS = ("127.0.0.1", 10000)  # UseDevelopmentStorage=true
WEBJOBS_STORAGE_SETTING = "AzureWebJobsStorage"


class ServiceStopped(Exception):
    """A service this host started has stopped: the host ends (exit code 1)."""


def storage_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """MisStorage given, as a connection string or identity-based (blank is unset)."""
    return any(
        (environ.get(name) or "").strip()
        for name in (STORAGE_SETTING, f"{STORAGE_SETTING}__blobServiceUri")
    )


def _answers(address: tuple[str, int] | str) -> str | None:
    """None when something accepts a connection at `address` (host and port, or a unix
    socket's path), else why not. Nothing is sent: no credentials, no request."""
    try:
        if isinstance(address, str):
            with socket.socket(socket.AF_UNIX) as unix_socket:
                unix_socket.settimeout(PROBE_TIMEOUT_SECONDS)
                unix_socket.connect(address)
        else:
            socket.create_connection(address, timeout=PROBE_TIMEOUT_SECONDS).close()
    except OSError as error:
        return error.strerror or str(error) or type(error).__name__
    return None


def database_address(url: str) -> tuple[str, int] | str:
    """Where the server of a libpq URL listens: host and port, or its unix socket."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    host = str(info.get("host") or "localhost").split(",")[0]
    port = int(str(info.get("port") or 5432).split(",")[0])
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds the pid: alive
    return True


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)


class HostServices:
    """The host's PostgreSQL and storage, and who started them."""

    def __init__(self, settings: Settings, azurite: embedded.Azurite | None) -> None:
        from payout_core.adapters import storage

        self.settings = settings
        self.azurite = azurite
        # Building a client contacts nothing; it tells where the blob service is.
        self.storage_address = _endpoint(storage.service_client(settings).url)
        self.postgres_data_dir = embedded.started_postgres_data_dir(settings.state_dir)
        self._down: dict[str, str] = {}

    # -- starting --

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[HostServices]:
        """Azurite when no storage is configured, for as long as the block runs."""
        azurite = None
        if not storage_configured():
            azurite = embedded.Azurite(get_settings().state_dir / "azurite").start()
            os.environ[STORAGE_SETTING] = azurite.connection_string
            if not (os.environ.get(WEBJOBS_STORAGE_SETTING) or "").strip():
                os.environ[WEBJOBS_STORAGE_SETTING] = azurite.connection_string
            get_settings.cache_clear()
            log.info(
                "storage: Azurite started by this host, blob on 127.0.0.1:%d, queue on "
                "127.0.0.1:%d (data in %s); MisStorage=%s",
                azurite.blob_port,
                azurite.queue_port,
                azurite.location,
                azurite.connection_string,
            )
        try:
            yield cls(get_settings(), azurite)
        finally:
            if azurite is not None:
                azurite.stop()

    # -- watching --

    def check(self) -> bool:
        """True when every service answers. A service this host started that stopped
        raises ServiceStopped; a configured one that does not answer is reported once
        (and once when it is back), and False tells the host to skip this poll."""
        outages = self.outages()
        for name, cause in outages.items():
            if name not in self._down:
                log.error(
                    "%s does not answer (%s): the host retries every %g s; files wait in "
                    "their containers",
                    name,
                    cause,
                    self.settings.host_poll_interval_seconds,
                )
        for name in set(self._down) - set(outages):
            log.warning("%s answers again: the host carries on", name)
        self._down = outages
        return not outages

    def problem_at_start(self) -> str | None:
        """What keeps the host from starting, in one line, or None."""
        outages = self.outages()
        if not outages:
            return None
        down = "; ".join(f"{name} does not answer ({cause})" for name, cause in outages.items())
        hint = ""
        if self.azurite is None and self.storage_address == EMULATOR_BLOB_ADDRESS:
            hint = (
                f"; start Azurite there (docker compose up -d), or leave {STORAGE_SETTING} "
                "unset and the host starts its own"
            )
        return f"{down}: the host stops (exit code 1){hint}"

    def outages(self) -> dict[str, str]:
        """Each configured service that does not answer, with why; ServiceStopped when a
        service this host started has stopped."""
        self._stopped_here()
        return {name: cause for name, probe in self._probes().items() if (cause := probe())}

    def _stopped_here(self) -> None:
        if self.azurite is not None:
            exited = self.azurite.exit_codes()
            if exited:
                raise ServiceStopped(
                    f"Azurite, started by this host (blob port {self.azurite.blob_port}), has "
                    f"stopped ({exited}): the host stops (exit code 1); run `payout host` "
                    "again to start it with the same data"
                )
        if self.postgres_data_dir is not None and not self._postgres_running():
            raise ServiceStopped(
                f"the embedded PostgreSQL ({self.postgres_data_dir}) has stopped: the host "
                "stops (exit code 1); run `payout host` again to start it with the same data"
            )

    def _postgres_running(self) -> bool:
        pid_file = Path(self.postgres_data_dir or "") / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return _pid_alive(pid)

    def _probes(self) -> dict[str, Callable[[], str | None]]:
        probes: dict[str, Callable[[], str | None]] = {}
        if self.azurite is None:
            host, port = self.storage_address
            probes[f"storage {STORAGE_SETTING} ({host}:{port})"] = lambda: _answers((host, port))
        if self.postgres_data_dir is None and self.settings.database_url:
            address = database_address(self.settings.database_url)
            where = address if isinstance(address, str) else "{}:{}".format(*address)
            probes[f"the database ({where})"] = lambda: _answers(address)
        return probes
