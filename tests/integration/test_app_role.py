"""The app's database role in Azure holds only localdev/azure_database.py's grants: the
app's whole round (an MIS file, the summary with its cycle, a hold decided, remittance and
wallet confirmation files) runs as such a role, and DDL does not.

Locally the role is a plain PostgreSQL role (Azure makes it an Entra principal with
pgaadauth_create_principal_with_oid, which only Azure's server has).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from localdev.azure_database import grant_app_role
from payout_core.flows import iteration, mis_processing, reconciliation_processing
from payout_core.ledger import db, holds, store
from payout_core.settings import get_settings
from tests.fakes.email_senders import RecordingEmailSender

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def app_role_url(
    database_url: str, tmp_state: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The test's database, loaded by its owner (as the operator loads rules and leads),
    and the pool reopened as a role that has only the app's grants."""
    store.load_rules_file(SAMPLES / "payin_payout_rules.csv")
    store.load_leads_file(SAMPLES / "leads.csv")
    role = f"payout_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        grant_app_role(conn, role)
    app_url = psycopg.conninfo.make_conninfo(database_url, user=role)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", app_url)
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "500")  # some events wait for a person
    get_settings.cache_clear()
    db.close_pool()
    db.open_checked_pool(get_settings())
    try:
        yield app_url
    finally:
        db.close_pool()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_apps_whole_round_runs_on_the_apps_grants(app_role_url: str) -> None:
    settings = get_settings()
    for sample in sorted((SAMPLES / "mis").glob("*.csv")):
        assert mis_processing.process_mis_file(sample, settings=settings).rows_read > 0

    first = iteration.run_summary(RecordingEmailSender(), settings=settings)
    assert first.cycle is not None and first.cycle.credit_count > 0

    with db.connection() as conn:
        waiting = [event.event_id for event in holds.list_holds(conn)]
        assert waiting
        holds.decide(conn, waiting[:1], decision="approve", decided_by="Finance", reason=None)
    assert iteration.run_summary(RecordingEmailSender(), settings=settings).email_sent

    for remittance in sorted((SAMPLES / "remittance").glob("*.csv")):
        reconciliation_processing.process_remittance_file(remittance, settings=settings)
    for confirmations in sorted((SAMPLES / "wallet_confirmations").glob("*.csv")):
        reconciliation_processing.process_confirmation_file(confirmations, settings=settings)
    assert iteration.run_summary(RecordingEmailSender(), settings=settings).email_sent


@pytest.mark.parametrize(
    "statement",
    ["DROP TABLE payout_events", "TRUNCATE payout_events", "DELETE FROM leads",
     "CREATE TABLE extra (x int)"],
)  # fmt: skip
def test_the_apps_role_cannot_change_the_schema_or_delete(
    app_role_url: str, statement: str
) -> None:
    with (
        psycopg.connect(app_role_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)
