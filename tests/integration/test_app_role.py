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
from payout_core.flows import (
    iteration,
    mis_processing,
    reconciliation_processing,
    reference_data,
    review_decisions,
)
from payout_core.flows.unit_of_work import Context
from payout_core.settings import get_settings
from tests.fakes.email_senders import RecordingEmailSender

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def app_role_url(
    database_url: str, tmp_state: Path, monkeypatch: pytest.MonkeyPatch, context: Context
) -> Iterator[str]:
    """The test's database, loaded by its owner (as the operator loads rules and leads),
    and the settings pointed at a role that has only the app's grants."""
    reference_data.load_rules_file(context, SAMPLES / "payin_payout_rules.csv")
    reference_data.load_leads_file(context, SAMPLES / "leads.csv")
    role = f"payout_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        grant_app_role(conn, role)
    app_url = psycopg.conninfo.make_conninfo(database_url, user=role)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", app_url)
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "500")  # some events wait for a person
    get_settings.cache_clear()
    try:
        yield app_url
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def as_the_app(app_role_url: str) -> Iterator[Context]:
    """The context the deployed app would open as that role, its schema check included."""
    app = Context.open(get_settings())
    try:
        app.database.check_schema()
        yield app
    finally:
        app.close()


def test_the_apps_whole_round_runs_on_the_apps_grants(as_the_app: Context) -> None:
    for sample in sorted((SAMPLES / "mis").glob("*.csv")):
        assert mis_processing.process_mis_file(sample, context=as_the_app).rows_read > 0

    first = iteration.run_summary(RecordingEmailSender(), context=as_the_app)
    assert first.cycle is not None and first.cycle.credit_count > 0

    held, _ = review_decisions.waiting_and_decided(as_the_app)
    assert held
    review_decisions.decide(
        as_the_app, [held[0].event_id], decision="approve", decided_by="Finance", reason=None
    )
    assert iteration.run_summary(RecordingEmailSender(), context=as_the_app).email_sent

    for remittance in sorted((SAMPLES / "remittance").glob("*.csv")):
        reconciliation_processing.process_remittance_file(remittance, context=as_the_app)
    for confirmations in sorted((SAMPLES / "wallet_confirmations").glob("*.csv")):
        reconciliation_processing.process_confirmation_file(confirmations, context=as_the_app)
    assert iteration.run_summary(RecordingEmailSender(), context=as_the_app).email_sent


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
