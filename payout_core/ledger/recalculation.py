"""`payout recalculate`: paid leads re-weighed under the rules in force now, corrected by
appending adjustment events (never by editing one).

Set-based: per product, one COPY out of the paid leads in range with what each KPI was
paid, the worth computed in Polars (engine/recalculation.py), one COPY of the adjustments
in, one statement refreshing the affected calculations. One transaction: a dry run rolls
it back, and a run that collides with an MIS file (both appending to one lead's KPI
history) is retried from the start with fresh facts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import recalculation
from payout_core.engine.amounts import minor_to_decimal
from payout_core.engine.holds import HoldLimits
from payout_core.engine.products import ProductHandler, all_handlers
from payout_core.errors import ConfigurationError
from payout_core.ledger import db, events, store

log = logging.getLogger(__name__)

PAID_LEADS = f"""
SELECT c.lead_id, c.sp_id, c.source_type, c.medium_type, c.product_type,
       {events.LEAD_FACTS_COLUMNS}
FROM payout_calculations c
{events.KPI_HISTORY_LATERAL}
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


@dataclasses.dataclass(frozen=True)
class RecalculationResult:
    leads_examined: int
    leads_adjusted: int
    events: int
    total_payin: Decimal
    total_payout: Decimal
    dry_run: bool
    recalculation_id: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "leads_examined": self.leads_examined,
            "leads_adjusted": self.leads_adjusted,
            "events": self.events,
            "total_payin": str(self.total_payin),
            "total_payout": str(self.total_payout),
            "dry_run": self.dry_run,
        }

    def describe(self) -> str:
        verb = "would append" if self.dry_run else "appended"
        return (
            f"recalculation: {self.leads_examined} paid lead(s) examined, "
            f"{self.leads_adjusted} adjusted; {verb} {self.events} adjustment event(s), "
            f"net payin {self.total_payin}, net payout {self.total_payout}"
            + (" (dry run: nothing written)" if self.dry_run else "")
        )


def recalculate(
    *,
    product_type: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    requested_by: str | None = None,
    dry_run: bool = False,
    hold_limits: HoldLimits,
) -> RecalculationResult:
    handlers = _handlers(product_type)

    def recalculate_once() -> RecalculationResult:
        with db.connection() as conn:
            return _recalculate_once(
                conn, handlers, date_from, date_to, requested_by, dry_run, hold_limits
            )

    return db.retry_on_conflict("recalculation", recalculate_once)


def _handlers(product_type: str | None) -> list[ProductHandler]:
    known = all_handlers()
    if product_type is None:
        return list(known.values())
    if product_type not in known:
        raise ConfigurationError(
            f"unknown product {product_type!r} (known: {', '.join(sorted(known))})"
        )
    return [known[product_type]]


def _recalculate_once(
    conn: psycopg.Connection,
    handlers: list[ProductHandler],
    date_from: dt.date | None,
    date_to: dt.date | None,
    requested_by: str | None,
    dry_run: bool,
    hold_limits: HoldLimits,
) -> RecalculationResult:
    recalculation_id = None
    with conn.transaction(), conn.cursor() as cursor:
        # One recalculation at a time: two would both see the same history and collide.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payout.recalculate'))")
        examined = 0
        found = []
        for handler in handlers:
            paid_leads = store.copy_out(
                cursor,
                sql.SQL(PAID_LEADS),  # type: ignore[arg-type]
                recalculation.PAID_LEADS_SCHEMA,
                {"product_type": handler.product_type, "date_from": date_from, "date_to": date_to},
            )
            examined += paid_leads.height
            rules = store.active_rules(conn, handler.product_type)
            found.append(recalculation.adjustments(paid_leads, rules, handler))
        adjustments = pl.concat(found) if found else pl.DataFrame()
        result = _result(examined, adjustments, dry_run)
        if dry_run or not result.events:
            # Nothing written. A run that found nothing leaves no row either: a
            # recalculation row (reported in the next email) means money moved.
            raise psycopg.Rollback()
        recalculation_id = cursor.execute(
            RECORD_RECALCULATION,
            (
                requested_by,
                handlers[0].product_type if len(handlers) == 1 else None,
                date_from,
                date_to,
                result.leads_examined,
                result.leads_adjusted,
                result.events,
                result.total_payin,
                result.total_payout,
            ),
        ).fetchone()[0]
        events.append_events(
            conn,
            events.event_rows(
                adjustments,
                hold_limits=hold_limits,
                recalculation_id=recalculation_id,
                requested_by=requested_by,
            ),
        )
        cursor.execute("CREATE TEMP TABLE recalculated_leads (lead_id text) ON COMMIT DROP")
        store.copy_frame(cursor, "recalculated_leads", adjustments.select("lead_id").unique())
        events.refresh_calculations(conn, "recalculated_leads")
    if recalculation_id is None:
        return result
    log.info("recalculation %s: %s", recalculation_id, result.to_json())
    return dataclasses.replace(result, recalculation_id=recalculation_id)


def _result(examined: int, adjustments: pl.DataFrame, dry_run: bool) -> RecalculationResult:
    if adjustments.is_empty():
        return RecalculationResult(examined, 0, 0, Decimal("0.00"), Decimal("0.00"), dry_run)
    payin_minor, payout_minor = adjustments.select(
        pl.col("payin_minor").sum(), pl.col("payout_minor").sum()
    ).row(0)
    return RecalculationResult(
        leads_examined=examined,
        leads_adjusted=adjustments["lead_id"].n_unique(),
        events=adjustments.height,
        total_payin=minor_to_decimal(payin_minor),
        total_payout=minor_to_decimal(payout_minor),
        dry_run=dry_run,
    )
