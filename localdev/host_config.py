"""The local host's configuration: local.settings.json, host.json and `%SETTING%` references,
read the way the Functions host and Core Tools read them."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from payout_core.settings import Settings, checkout_root

log = logging.getLogger("payout.host")

# Of the checkout `payout` runs in, as Core Tools reads them from the folder it starts in.
LOCAL_SETTINGS_PATH = checkout_root() / "local.settings.json"
HOST_JSON_PATH = checkout_root() / "host.json"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"
DEFAULT_HOST_ID = "shiftpay-payout-local"

# The extensions' defaults when host.json says nothing.
DEFAULT_POISON_BLOB_THRESHOLD = 5
DEFAULT_MAX_DEGREE_OF_PARALLELISM = 1
DEFAULT_MAX_DEQUEUE_COUNT = 5
DEFAULT_ROUTE_PREFIX = "api"


class HostConfigError(Exception):
    """The function app or its settings cannot be hosted as written."""


def load_local_settings(path: Path) -> list[str]:
    """Copy local.settings.json's Values into the environment, never over a set variable.

    Returns the names it set. A missing file is fine: the settings defaults apply.
    """
    if not path.is_file():
        return []
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    applied = []
    for name, value in values.items():
        if name not in os.environ and value is not None:
            os.environ[name] = str(value)
            applied.append(name)
    log.info("loaded %d setting(s) from %s", len(applied), path)
    return applied


@dataclass(frozen=True)
class HostConfig:
    """What host.json says about the triggers this host emulates."""

    poison_blob_threshold: int = DEFAULT_POISON_BLOB_THRESHOLD
    max_degree_of_parallelism: int = DEFAULT_MAX_DEGREE_OF_PARALLELISM
    max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    """Of the HTTP functions' URLs (extensions.http.routePrefix)."""

    @classmethod
    def from_host_json(cls, path: Path) -> HostConfig:
        if not path.is_file():
            return cls()
        extensions = json.loads(path.read_text(encoding="utf-8")).get("extensions", {})
        blobs = extensions.get("blobs", {})
        queues = extensions.get("queues", {})
        return cls(
            poison_blob_threshold=max(
                1, int(blobs.get("poisonBlobThreshold", DEFAULT_POISON_BLOB_THRESHOLD))
            ),
            max_degree_of_parallelism=max(
                1, int(blobs.get("maxDegreeOfParallelism", DEFAULT_MAX_DEGREE_OF_PARALLELISM))
            ),
            max_dequeue_count=max(1, int(queues.get("maxDequeueCount", DEFAULT_MAX_DEQUEUE_COUNT))),
            route_prefix=str(
                extensions.get("http", {}).get("routePrefix", DEFAULT_ROUTE_PREFIX)
            ).strip("/"),
        )


def app_setting(name: str, settings: Settings) -> str | None:
    """An app setting as the host sees it: the environment, else the app's own default."""
    if name in os.environ:
        return os.environ[name]
    for field_name, field_info in Settings.model_fields.items():
        if field_info.alias == name:
            value = getattr(settings, field_name)
            return None if value is None else str(value)
    return None


def resolve_setting_references(text: str, settings: Settings) -> str:
    """Replace each `%NAME%` with the app setting NAME, as the host does for bindings."""

    def replace(match: re.Match[str]) -> str:
        value = app_setting(match.group(1), settings)
        if value is None:
            raise HostConfigError(f"binding refers to %{match.group(1)}% but no such setting")
        return value

    return re.sub(r"%([^%]+)%", replace, text)


def export_connection_setting(name: str, settings: Settings) -> None:
    """Put a binding's connection setting in the environment when only the app's default
    gives it (Azurite): the SDK-type binding reads the environment, as in Azure."""
    if name in os.environ or f"{name}__blobServiceUri" in os.environ:
        return
    value = app_setting(name, settings)
    if not value:
        raise HostConfigError(f"connection setting {name!r} is not set")
    os.environ[name] = value
