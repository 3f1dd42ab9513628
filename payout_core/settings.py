"""Every setting the app reads, typed and documented in one place, read once per process.

Names are the app-setting names an operator types in the Azure portal or
local.settings.json; the README explains each one.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Settings(BaseSettings):
    # env_ignore_empty: an empty value (as in local.settings.example.json) means "the default".
    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, env_ignore_empty=True
    )

    # --- PostgreSQL -------------------------------------------------------------
    database_url: str | None = Field(None, alias="PAYOUT_DATABASE_URL")
    """libpq URL of the ledger database; unset means the embedded server under state_dir."""
    db_pool_max_size: int = Field(4, alias="PAYOUT_DB_POOL_MAX_SIZE", ge=2, le=50)
    """A file being processed holds two: its transaction, and its lookups."""
    db_statement_timeout_seconds: int = Field(
        900, alias="PAYOUT_DB_STATEMENT_TIMEOUT_SECONDS", ge=1
    )
    db_connect_timeout_seconds: int = Field(10, alias="PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", ge=1)
    state_dir: Path = Field(PROJECT_ROOT / ".state", alias="PAYOUT_STATE_DIR")
    """Local state: embedded PostgreSQL data, Azurite data, outbox. Never used in Azure."""

    # --- Blob Storage -----------------------------------------------------------
    storage_connection_string: str = Field(azurite_connection_string(), alias="MisStorage")
    mis_container: str = Field("mis-inbox", alias="MIS_CONTAINER")
    output_container: str = Field("mis-outputs", alias="PAYOUT_OUTPUT_CONTAINER")
    quarantine_container: str = Field("mis-quarantine", alias="PAYOUT_QUARANTINE_CONTAINER")
    storage_connect_timeout_seconds: int = Field(
        10, alias="PAYOUT_STORAGE_CONNECT_TIMEOUT_SECONDS", ge=1
    )
    storage_read_timeout_seconds: int = Field(
        120, alias="PAYOUT_STORAGE_READ_TIMEOUT_SECONDS", ge=1
    )
    """Per request (one chunk of a download or upload), not per file."""
    storage_retry_total: int = Field(3, alias="PAYOUT_STORAGE_RETRY_TOTAL", ge=0, le=10)
    """Retries of one Storage request inside the SDK before the failure reaches our code."""

    # --- Local Functions host (`payout host`; never used in Azure) --------------
    webjobs_storage_connection_string: str | None = Field(None, alias="AzureWebJobsStorage")
    """Where the host keeps blob receipts, timer status and the poison queue; unset = MisStorage."""
    host_poll_interval_seconds: float = Field(2.0, alias="PAYOUT_HOST_POLL_INTERVAL_SECONDS", gt=0)
    host_retry_delay_seconds: float = Field(2.0, alias="PAYOUT_HOST_RETRY_DELAY_SECONDS", ge=0)
    """Wait before retrying a blob whose function failed (the real host backs off too)."""

    # --- MIS processing limits --------------------------------------------------
    banks_file: Path = Field(PROJECT_ROOT / "config" / "banks.toml", alias="PAYOUT_BANKS_FILE")
    mis_max_file_bytes: int = Field(2 * 1024**3, alias="PAYOUT_MIS_MAX_FILE_BYTES", ge=1)
    mis_batch_rows: int = Field(400_000, alias="PAYOUT_MIS_BATCH_ROWS", ge=1)
    """At most this many rows per batch; a batch is otherwise one 16 MiB piece of the CSV."""
    mis_lookup_rows: int = Field(250_000, alias="PAYOUT_MIS_LOOKUP_ROWS", ge=1)
    """MIS rows whose leads are fetched in one query: each query scans the leads table once;
    more rows, fewer scans, but about 100 MB more peak memory per million rows."""

    # --- Review page (/api/review) -------------------------------------------------
    review_secret: SecretStr | None = Field(None, alias="PAYOUT_REVIEW_SECRET")
    """Signs the review page's forms (CSRF tokens) and result messages. Required for the
    page to answer; at least 32 characters; the same on every instance (an app setting,
    ideally a Key Vault reference). `payout host` makes one up when it is unset."""

    # --- Iteration summary email ------------------------------------------------
    summary_schedule: str = Field("0 0 * * * *", alias="SUMMARY_SCHEDULE")
    email_sender: Literal["outbox", "acs"] = Field("outbox", alias="PAYOUT_EMAIL_SENDER")
    outbox_dir: Path = Field(PROJECT_ROOT / ".state" / "outbox", alias="PAYOUT_OUTBOX_DIR")
    email_from: str = Field("DoNotReply@shiftpay.example", alias="PAYOUT_EMAIL_FROM")
    email_to: str = Field("finance@shiftpay.example", alias="PAYOUT_EMAIL_TO")
    """Comma-separated recipient addresses."""
    acs_connection_string: str | None = Field(None, alias="ACS_CONNECTION_STRING")
    acs_endpoint: str | None = Field(None, alias="ACS_ENDPOINT")
    """ACS endpoint for managed identity (DefaultAzureCredential) when no connection string."""
    email_send_timeout_seconds: int = Field(120, alias="PAYOUT_EMAIL_SEND_TIMEOUT_SECONDS", ge=1)
    email_attachment_max_rows: int = Field(40_000, alias="PAYOUT_EMAIL_ATTACHMENT_MAX_ROWS", ge=1)
    """Rows per CSV attachment. ACS refuses messages over 10 MB (base64 adds a third), so a
    larger iteration's attachment holds the first rows and the email says where the rest are."""

    # --- Payout cycles: holds for a person's approval (SPEC §8) -------------------
    hold_event_payout_above: Decimal | None = Field(
        None, alias="PAYOUT_HOLD_EVENT_ABOVE", ge=0, decimal_places=2, allow_inf_nan=False
    )
    """An event whose payout is above this waits for approval. Blank: no limit."""
    hold_sp_cycle_payout_above: Decimal | None = Field(
        None, alias="PAYOUT_HOLD_SP_CYCLE_ABOVE", ge=0, decimal_places=2, allow_inf_nan=False
    )
    """Every event of an SP whose cycle total would be above this waits. Blank: no limit."""
    review_url: str | None = Field(None, alias="PAYOUT_REVIEW_URL")
    """Public address of the holds review page; the email links to it when something is held."""

    @property
    def hold_limits(self) -> HoldLimits:
        from payout_core.engine.holds import HoldLimits

        return HoldLimits(
            event_payout_above=self.hold_event_payout_above,
            sp_cycle_payout_above=self.hold_sp_cycle_payout_above,
        )

    @property
    def email_recipients(self) -> list[str]:
        return [address.strip() for address in self.email_to.split(",") if address.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
