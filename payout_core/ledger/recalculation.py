"""The rows of `payout recalculate` (SPEC §4.3): the paid leads of a product and window,
and the record of a recalculation that moved money. Its flow is flows/recalculation.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine.recalculation import PAID_LEADS_SCHEMA
from payout_core.ledger import events
from payout_core.ledger.copying import copy_frame, copy_out

PAID_LEADS = f"""
SELECT c.lead_id, c.sp_id, c.source_type, c.medium_type, c.product_type,
       {events.LEAD_FACTS_COLUMNS}
FROM payout_calculations c
WHERE c.product_type = %(product_type)s
  AND (%(date_from)s::date IS NULL OR c.date_of_sale >= %(date_from)s::date)
  AND (%(date_to)s::date IS NULL OR c.date_of_sale <= %(date_to)s::date)
"""
RECORD_RECALCULATION = """
INSERT INTO recalculations (requested_by, product_type, date_of_sale_from, date_of_sale_to,
                            rule_set_version, leads_examined, leads_adjusted, event_count,
                            total_payin, total_payout)
VALUES (%s, %s, %s, %s, (SELECT coalesce(max(rule_set_version), 0) FROM rule_sets),
        %s, %s, %s, %s, %s)
RETURNING recalculation_id
"""
LEAD_IDS_TABLE = "recalculated_leads"


def lock(conn: psycopg.Connection) -> None:
    """One recalculation at a time: two would both see the same history and collide."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('payout.recalculate'))")
    conn.execute(f"CREATE TEMP TABLE {LEAD_IDS_TABLE} (lead_id text) ON COMMIT DROP")


def paid_leads(
    conn: psycopg.Connection,
    product_type: str,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The product's paid leads with DateOfSale in the window (PAID_LEADS_SCHEMA) and where
    each of their KPIs stands (engine/kpis.BALANCES_SCHEMA)."""
    with conn.cursor() as cursor:
        leads = copy_out(
            cursor,
            sql.SQL(PAID_LEADS),  # type: ignore[arg-type]
            PAID_LEADS_SCHEMA,
            {"product_type": product_type, "date_from": date_from, "date_to": date_to},
        )
        _keep_lead_ids(cursor, leads)
        return leads, events.balances_of(cursor, LEAD_IDS_TABLE)


def _keep_lead_ids(cursor: psycopg.Cursor, leads: pl.DataFrame) -> None:
    cursor.execute(f"TRUNCATE {LEAD_IDS_TABLE}")
    copy_frame(cursor, LEAD_IDS_TABLE, leads.select("lead_id").unique())
    cursor.execute(f"ANALYZE {LEAD_IDS_TABLE}")


def record(
    conn: psycopg.Connection,
    *,
    requested_by: str,
    product_type: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    counts: tuple[int, int, int],
    totals: tuple[Decimal, Decimal],
    event_rows: pl.DataFrame,
) -> int:
    """Keep a recalculation that moved money, its events, and the final table of the leads
    they changed (the release invariant checked on them); returns its id. `counts`: leads
    examined, leads changed, events; `totals`: net payin, net payout. `event_rows` are
    events.event_rows without the recalculation's id, which is known only here."""
    recalculation_id = conn.execute(
        RECORD_RECALCULATION, (requested_by, product_type, date_from, date_to, *counts, *totals)
    ).fetchone()[0]
    events.append_events(
        conn, event_rows.with_columns(pl.lit(recalculation_id).alias("recalculation_id"))
    )
    with conn.cursor() as cursor:
        _keep_lead_ids(cursor, event_rows)
    events.refresh_calculations(conn, LEAD_IDS_TABLE)
    events.check_release_invariant(conn, LEAD_IDS_TABLE)
    return recalculation_id
