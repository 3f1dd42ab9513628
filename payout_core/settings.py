"""Every setting the app reads, typed and documented in one place, read once per process.

Names are the app-setting names an operator types in the Azure portal or
local.settings.json; the README explains each one.

Running in Azure (the platform sets WEBSITE_INSTANCE_ID) the local conveniences are
off: no Azurite default for storage, no outbox default for email, and a setting the
deployment must give (`REQUIRED_IN_AZURE`) stops start-up with a message naming it.

A value a setting cannot hold stops whatever reads the settings with one sentence per
setting naming it, its value and what is expected (payout_core/setting_values.py: what
each setting's type may hold); `payout` then exits with code 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from payout_core.engine.amount_limits import LEDGER_AMOUNT_MAX
from payout_core.errors import ConfigurationError, SettingError
from payout_core.setting_values import (
    CURRENCY_SYMBOLS,
    AcsConnection,
    AcsEndpoint,
    ClientId,
    ContainerName,
    CurrencyCode,
    DatabaseUrl,
    EmailAddress,
    EmailAddresses,
    ExistingFile,
    Folder,
    HoldLimit,
    NcrontabSchedule,
    PageAddress,
    ReviewSecret,
    ServiceUri,
    StorageAccountName,
    StorageConnection,
    refusal,
)
from payout_core.setting_values import (  # the review page reads the minimum here
    REVIEW_SECRET_MIN_CHARS as REVIEW_SECRET_MIN_CHARS,
)

if TYPE_CHECKING:
    from payout_core.engine.holds import HoldLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_connection_string(blob_port: int = 10000, queue_port: int = 10001) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{queue_port}/devstoreaccount1;"
    )


# Set by the Functions platform on every instance (App Service, Consumption, Flex).
AZURE_INSTANCE_SETTING = "WEBSITE_INSTANCE_ID"
STORAGE_SETTING = "MisStorage"
# The blob trigger's source: Event Grid (Flex Consumption supports only this) or the
# polling scan. Read by function_app.py when the worker indexes it (decorator arguments are
# fixed then), so a change takes effect when the app restarts, as every app setting does.
BLOB_TRIGGER_SOURCE_SETTING = "PAYOUT_BLOB_TRIGGER_SOURCE"
BLOB_TRIGGER_SOURCES = ("EventGrid", "LogsAndContainerScan")


def running_in_azure(environ: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get(AZURE_INSTANCE_SETTING))


def blob_trigger_source(environ: Mapping[str, str] | None = None) -> str:
    """PAYOUT_BLOB_TRIGGER_SOURCE, default EventGrid; anything else stops indexing."""
    value = (os.environ if environ is None else environ).get(BLOB_TRIGGER_SOURCE_SETTING)
    source = (value or "").strip() or BLOB_TRIGGER_SOURCES[0]
    if source not in BLOB_TRIGGER_SOURCES:
        raise SettingError(
            [BLOB_TRIGGER_SOURCE_SETTING],
            [f"{BLOB_TRIGGER_SOURCE_SETTING} is {value!r}: expected one of "
             f"{', '.join(BLOB_TRIGGER_SOURCES)}"],
        )  # fmt: skip
    return source


def checkout_root(start: Path | None = None) -> Path:
    """The checkout a command was started in: the nearest folder at or above the working
    folder holding function_app.py and host.json, else the app's own folder. Local state,
    samples and local.settings.json follow the checkout a person works in, not the one the
    `payout` program happens to be installed from. In Azure: the app's folder."""
    if running_in_azure():
        return PROJECT_ROOT
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in ("function_app.py", "host.json")):
            return folder
    return PROJECT_ROOT


class Settings(BaseSettings):
    # env_ignore_empty: an empty value (as in local.settings.example.json) means "the default".
    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, env_ignore_empty=True
    )

    # --- PostgreSQL -------------------------------------------------------------
    database_url: DatabaseUrl | None = Field(None, alias="PAYOUT_DATABASE_URL")
    """libpq URL of the ledger database; unset means the embedded server under state_dir."""
    db_pool_max_size: int = Field(4, alias="PAYOUT_DB_POOL_MAX_SIZE", ge=2, le=50)
    """A file being processed holds two: its transaction, and its lookups."""
    db_statement_timeout_seconds: int = Field(
        900, alias="PAYOUT_DB_STATEMENT_TIMEOUT_SECONDS", ge=1
    )
    db_connect_timeout_seconds: int = Field(10, alias="PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", ge=1)
    database_auth: Literal["password", "entra"] = Field("password", alias="PAYOUT_DATABASE_AUTH")
    """`entra`: the password is a Microsoft Entra access token, fetched for each new
    connection (tokens live about an hour); the URL names the Entra user, no password."""
    database_client_id: ClientId | None = Field(None, alias="PAYOUT_DATABASE_CLIENT_ID")
    """With `entra`: the client id of a user-assigned managed identity; unset means
    DefaultAzureCredential (the system-assigned identity in Azure, `az login` locally)."""
    db_pgbouncer: bool = Field(False, alias="PAYOUT_DB_PGBOUNCER")
    """Connected through PgBouncer in transaction mode (Flexible Server's port 6432): no
    startup `options`, session settings per transaction (SET LOCAL), no prepared statements."""
    state_dir: Folder = Field(
        default_factory=lambda: checkout_root() / ".state", alias="PAYOUT_STATE_DIR"
    )
    """Local state: embedded PostgreSQL data, Azurite data, outbox. Never used in Azure.
    `.state` of the checkout the command runs in, unless set."""

    # --- Blob Storage -----------------------------------------------------------
    storage_connection_string: StorageConnection | None = Field(None, alias=STORAGE_SETTING)
    """A connection string; unset locally means Azurite, unset in Azure is an error unless
    the identity-based settings below are given."""
    storage_blob_service_uri: ServiceUri | None = Field(None, alias="MisStorage__blobServiceUri")
    """Identity-based connection: https://ACCOUNT.blob.core.windows.net (with a managed
    identity holding Storage Blob Data Owner on the account)."""
    storage_queue_service_uri: ServiceUri | None = Field(None, alias="MisStorage__queueServiceUri")
    """Identity-based connection: https://ACCOUNT.queue.core.windows.net; the blob trigger's
    poison queue lives in this account (Storage Queue Data Contributor)."""
    # MisStorage__credential (`managedidentity`) is read by the Functions host itself.
    storage_client_id: ClientId | None = Field(None, alias="MisStorage__clientId")
    mis_container: ContainerName = Field("mis-inbox", alias="MIS_CONTAINER")
    output_container: ContainerName = Field("mis-outputs", alias="PAYOUT_OUTPUT_CONTAINER")
    quarantine_container: ContainerName = Field(
        "mis-quarantine", alias="PAYOUT_QUARANTINE_CONTAINER"
    )
    storage_connect_timeout_seconds: int = Field(
        10, alias="PAYOUT_STORAGE_CONNECT_TIMEOUT_SECONDS", ge=1
    )
    storage_read_timeout_seconds: int = Field(
        120, alias="PAYOUT_STORAGE_READ_TIMEOUT_SECONDS", ge=1
    )
    """Per request (one chunk of a download or upload), not per file."""
    storage_retry_total: int = Field(3, alias="PAYOUT_STORAGE_RETRY_TOTAL", ge=0, le=10)
    """Retries of one Storage request inside the SDK before the failure reaches our code."""

    # --- The Functions host's own storage ---------------------------------------
    webjobs_storage_connection_string: StorageConnection | None = Field(
        None, alias="AzureWebJobsStorage"
    )
    """Where the host keeps blob receipts and timer status; unset = MisStorage for
    `payout host`. In Azure this or AzureWebJobsStorage__accountName is required."""
    webjobs_storage_account_name: StorageAccountName | None = Field(
        None, alias="AzureWebJobsStorage__accountName"
    )

    # --- Local Functions host (`payout host`; never used in Azure) --------------
    host_poll_interval_seconds: float = Field(
        2.0, alias="PAYOUT_HOST_POLL_INTERVAL_SECONDS", gt=0, allow_inf_nan=False
    )
    host_retry_delay_seconds: float = Field(
        2.0, alias="PAYOUT_HOST_RETRY_DELAY_SECONDS", ge=0, allow_inf_nan=False
    )
    """Wait before retrying a blob whose function failed (the real host backs off too)."""

    # --- MIS processing limits --------------------------------------------------
    banks_file: ExistingFile = Field(
        default_factory=lambda: checkout_root() / "config" / "banks.toml",
        alias="PAYOUT_BANKS_FILE",
    )
    mis_max_file_bytes: int = Field(2 * 1024**3, alias="PAYOUT_MIS_MAX_FILE_BYTES", ge=1)
    mis_batch_rows: int = Field(400_000, alias="PAYOUT_MIS_BATCH_ROWS", ge=1)
    """At most this many rows per batch; a batch is otherwise one 4 MiB piece of the CSV."""
    mis_lookup_rows: int = Field(50_000, alias="PAYOUT_MIS_LOOKUP_ROWS", ge=1)
    """MIS rows whose leads are fetched in one query (whole pieces of the CSV): the query
    probes the leads index once per LeadId; much larger spans make the planner scan the
    whole leads table instead, and hold more leads in memory."""

    # --- Review page (/api/review) -------------------------------------------------
    review_secret: ReviewSecret | None = Field(None, alias="PAYOUT_REVIEW_SECRET")
    """Signs the review page's forms (CSRF tokens) and result messages. Required for the
    page to answer; at least 32 characters; the same on every instance (an app setting,
    ideally a Key Vault reference). `payout host` makes one up when it is unset."""

    # --- Iteration summary email ------------------------------------------------
    summary_schedule: NcrontabSchedule = Field("0 0 * * * *", alias="SUMMARY_SCHEDULE")
    email_sender: Literal["outbox", "acs"] | None = Field(None, alias="PAYOUT_EMAIL_SENDER")
    """Unset means `outbox` locally; in Azure it must be set (no silent outbox)."""
    outbox_dir: Folder = Field(
        default_factory=lambda validated: Path(validated["state_dir"]) / "outbox",
        alias="PAYOUT_OUTBOX_DIR",
    )
    """The state folder's `outbox`, unless set."""
    email_from: EmailAddress = Field("DoNotReply@shiftpay.example", alias="PAYOUT_EMAIL_FROM")
    email_to: EmailAddresses = Field("finance@shiftpay.example", alias="PAYOUT_EMAIL_TO")
    """Comma-separated recipient addresses."""
    acs_connection_string: AcsConnection | None = Field(None, alias="ACS_CONNECTION_STRING")
    acs_endpoint: AcsEndpoint | None = Field(None, alias="ACS_ENDPOINT")
    """ACS endpoint for managed identity (DefaultAzureCredential) when no connection string."""
    email_send_timeout_seconds: int = Field(120, alias="PAYOUT_EMAIL_SEND_TIMEOUT_SECONDS", ge=1)
    email_attachments_max_bytes: int = Field(
        7_000_000, alias="PAYOUT_EMAIL_ATTACHMENTS_MAX_BYTES", ge=1_000, le=9_000_000
    )
    """Both CSV attachments together, counted as sent (base64). ACS refuses a message over
    10 MB, so a larger iteration's attachments hold the first rows and the email says where
    the rest are; the bodies get what is left of the 10 MB."""

    @field_validator("state_dir", "outbox_dir", "banks_file", mode="before")
    @classmethod
    def _in_checkout(cls, value: object) -> object:
        """A relative path is read from the checkout's folder, wherever the command runs."""
        if not isinstance(value, str | Path) or Path(value).is_absolute():
            return value
        return checkout_root() / value

    @model_validator(mode="before")
    @classmethod
    def _local_defaults(cls, values: Any) -> Any:
        """Azurite and the outbox are defaults on a developer's machine only."""
        if not isinstance(values, dict) or running_in_azure():
            return values
        has_storage = values.get(STORAGE_SETTING) or values.get("storage_connection_string")
        has_identity = values.get("MisStorage__blobServiceUri") or values.get(
            "storage_blob_service_uri"
        )
        if not has_storage and not has_identity:
            values = {**values, STORAGE_SETTING: azurite_connection_string()}
        if not (values.get("PAYOUT_EMAIL_SENDER") or values.get("email_sender")):
            values = {**values, "PAYOUT_EMAIL_SENDER": "outbox"}
        return values

    @property
    def storage_uses_identity(self) -> bool:
        return not self.storage_connection_string and bool(self.storage_blob_service_uri)

    def missing_in_azure(self) -> list[str]:
        """What a deployment must set, and did not (names of app settings)."""
        missing = [alias for alias in REQUIRED_IN_AZURE if not os.environ.get(alias, "").strip()]
        if not self.storage_connection_string and not self.storage_blob_service_uri:
            missing.append(f"{STORAGE_SETTING} (or {STORAGE_SETTING}__blobServiceUri)")
        if self.storage_blob_service_uri and not self.storage_queue_service_uri:
            missing.append(f"{STORAGE_SETTING}__queueServiceUri (the poison queue's account)")
        if not self.webjobs_storage_connection_string and not self.webjobs_storage_account_name:
            missing.append("AzureWebJobsStorage (or AzureWebJobsStorage__accountName)")
        if self.email_sender == "acs" and not (self.acs_connection_string or self.acs_endpoint):
            missing.append("ACS_ENDPOINT (or ACS_CONNECTION_STRING)")
        return missing

    # --- Payout cycles: holds for a person's approval (SPEC §8) -------------------
    hold_event_payout_above: HoldLimit | None = Field(None, alias="PAYOUT_HOLD_EVENT_ABOVE")
    """An event whose payout is above this waits for approval. Blank: no limit."""
    hold_sp_cycle_payout_above: HoldLimit | None = Field(None, alias="PAYOUT_HOLD_SP_CYCLE_ABOVE")
    """Every event of an SP whose cycle total would be above this waits. Blank: no limit."""

    @field_validator("hold_event_payout_above", "hold_sp_cycle_payout_above", mode="before")
    @classmethod
    def _hold_limit(cls, value: object) -> object:
        """An amount the ledger can hold: 1e309, NaN or a negative limit would pass here
        and fail every cycle close later (decimal.InvalidOperation)."""
        if value is None:
            return None
        try:
            amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        except InvalidOperation:
            amount = Decimal("NaN")
        if (
            not amount.is_finite()
            or not 0 <= amount <= LEDGER_AMOUNT_MAX
            or amount != amount.quantize(Decimal("0.01"))
        ):
            raise ValueError("not an amount the ledger can hold")  # HoldLimit's words say it
        return amount

    incentive_grace_days: int = Field(45, alias="PAYOUT_INCENTIVE_GRACE_DAYS", ge=0, le=1_000_000)
    """Days after a period's end during which each cycle close still re-weighs its incentives
    (SPEC §11); after them the worth is final."""

    review_url: PageAddress | None = Field(None, alias="PAYOUT_REVIEW_URL")
    """Public address of the holds review page; the email links to it when something is held."""
    currency: CurrencyCode = Field("INR", alias="PAYOUT_CURRENCY")
    """The currency of every amount (ISO code); the email and the review page show its
    symbol (INR: ₹). The ledger's numbers do not change with it."""

    @property
    def currency_symbol(self) -> str:
        return CURRENCY_SYMBOLS[self.currency]

    @property
    def hold_limits(self) -> HoldLimits:
        from payout_core.engine.holds import HoldLimits

        return HoldLimits(
            event_payout_above=self.hold_event_payout_above,
            sp_cycle_payout_above=self.hold_sp_cycle_payout_above,
        )

    # --- Reconciliation (SPEC §9) ---------------------------------------------
    remittance_container: ContainerName = Field("remittance-inbox", alias="REMITTANCE_CONTAINER")
    """Where banks' remittance files land (money in); a blob trigger watches it."""
    wallet_confirmation_container: ContainerName = Field(
        "wallet-confirmations", alias="WALLET_CONFIRMATION_CONTAINER"
    )
    """Where the wallet team's confirmation files land (money out); a blob trigger watches it."""
    reconciliation_max_file_bytes: int = Field(
        512 * 1024**2, alias="PAYOUT_RECONCILIATION_MAX_FILE_BYTES", ge=1
    )
    """Remittance and confirmation files are read whole (narrow rows: about 40 bytes each),
    so larger ones are refused with an error."""

    @property
    def email_recipients(self) -> list[str]:
        return [address.strip() for address in self.email_to.split(",") if address.strip()]


# Settings with a local default that would be wrong in Azure, or that a binding names
# (`%MIS_CONTAINER%`: the real host fails indexing without it).
REQUIRED_IN_AZURE = (
    "PAYOUT_DATABASE_URL",
    "MIS_CONTAINER",
    "REMITTANCE_CONTAINER",
    "WALLET_CONFIRMATION_CONTAINER",
    "SUMMARY_SCHEDULE",
    "PAYOUT_EMAIL_SENDER",
    "PAYOUT_EMAIL_FROM",
    "PAYOUT_EMAIL_TO",
    "PAYOUT_REVIEW_SECRET",
)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, read once. In Azure, a missing required setting is a
    ConfigurationError naming every one that is missing."""
    try:
        settings = Settings()
    except ValidationError as error:
        # Not chained: pydantic's own text repeats each value, secrets and keys included.
        raise refused_settings(error) from None
    if running_in_azure():
        missing = settings.missing_in_azure()
        if missing:
            raise ConfigurationError(
                "running in Azure without required app settings: " + ", ".join(missing)
            )
    return settings


def refused_settings(error: ValidationError) -> SettingError:
    """Each refused setting as one sentence naming it, its value and what is expected."""
    fields = {field.alias or name: field for name, field in Settings.model_fields.items()}
    fields.update(Settings.model_fields)  # settings given by name: Settings(state_dir=...)
    refused: dict[str, str] = {}
    for detail in error.errors():
        if detail["type"] == "default_factory_not_called":
            continue  # a default made from a refused setting (the outbox from the state)
        name, sentence = refusal(detail, fields)
        refused.setdefault(name, sentence)  # one sentence per setting
    return SettingError(list(refused), list(refused.values()))


def check_deployment() -> None:
    """Running in Azure: read the settings now, so a missing one stops start-up (the
    worker's indexing fails with this message) instead of the first file failing."""
    if running_in_azure():
        get_settings()
