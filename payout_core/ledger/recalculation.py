"""`payout recalculate`: paid leads re-weighed under the rules in force now, corrected by
appending adjustment events (never by editing one).

Set-based: per product, one COPY out of the paid leads in range and one of where their
KPIs stand, the worth computed in Polars (engine/recalculation.py), one COPY of the events
in, one statement refreshing the affected calculations, the release invariant checked on
them. One transaction: a dry run rolls it back, and a run that collides with an MIS file
(both appending to one lead's KPI history) is retried from the start with fresh facts.
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
from payout_core.engine.people import UnreadableName, person_name
from payout_core.engine.products import ProductHandler, all_handlers
from payout_core.errors import ConfigurationError
from payout_core.ledger import db, events, store

log = logging.getLogger(__name__)

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


@dataclasses.dataclass(frozen=True)
class UnpricedLead:
    """A paid lead the rules in force cannot price, and why."""

    lead_id: str
    reason: str


@dataclasses.dataclass(frozen=True)
class RecalculationResult:
    leads_examined: int
    leads_adjusted: int
    events: int
    total_payin: Decimal
    total_payout: Decimal
    dry_run: bool
    recalculation_id: int | None = None
    unpriced: tuple[UnpricedLead, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "leads_examined": self.leads_examined,
            "leads_adjusted": self.leads_adjusted,
            "events": self.events,
            "total_payin": str(self.total_payin),
            "total_payout": str(self.total_payout),
            "dry_run": self.dry_run,
            "unpriced": [dataclasses.asdict(lead) for lead in self.unpriced],
        }

    def describe(self) -> str:
        verb = "would append" if self.dry_run else "appended"
        lines = [
            f"recalculation: {self.leads_examined} paid lead(s) examined, "
            f"{self.leads_adjusted} changed; {verb} {self.events} event(s), "
            f"net payin {self.total_payin}, net payout {self.total_payout}"
            + (" (dry run: nothing written)" if self.dry_run else "")
        ]
        if self.unpriced:
            lines.append(f"{len(self.unpriced)} paid lead(s) could not be priced:")
            lines += [f"  {lead.lead_id}: {lead.reason}" for lead in self.unpriced]
        return "\n".join(lines)


def recalculate(
    *,
    requested_by: str,
    product_type: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    dry_run: bool = False,
    hold_limits: HoldLimits,
) -> RecalculationResult:
    """`requested_by`: who asks for it (recorded on its events; maker-checker: that person
    cannot approve what it holds). Raises ConfigurationError for an unknown product or an
    unreadable name."""
    handlers = _handlers(product_type)
    try:
        requested_by = person_name(requested_by, role="--by (who asks for the recalculation)")
    except UnreadableName as error:
        raise ConfigurationError(str(error)) from error

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
    requested_by: str,
    dry_run: bool,
    hold_limits: HoldLimits,
) -> RecalculationResult:
    recalculation_id = None
    with conn.transaction(), conn.cursor() as cursor:
        # One recalculation at a time: two would both see the same history and collide.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payout.recalculate'))")
        cursor.execute("CREATE TEMP TABLE recalculated_leads (lead_id text) ON COMMIT DROP")
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
            cursor.execute("TRUNCATE recalculated_leads")
            store.copy_frame(cursor, "recalculated_leads", paid_leads.select("lead_id"))
            cursor.execute("ANALYZE recalculated_leads")
            found.append(
                recalculation.reweigh(
                    paid_leads,
                    events.balances_of(cursor, "recalculated_leads"),
                    store.active_rules(conn, handler.product_type),
                    handler,
                    hold_limits,
                )
            )
        adjustments = pl.concat([weighed.events for weighed in found])
        unpriced = pl.concat([weighed.unpriced for weighed in found]).sort("lead_id")
        result = _result(examined, adjustments, unpriced, dry_run)
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
                adjustments, recalculation_id=recalculation_id, requested_by=requested_by
            ),
        )
        cursor.execute("TRUNCATE recalculated_leads")
        store.copy_frame(cursor, "recalculated_leads", adjustments.select("lead_id").unique())
        events.refresh_calculations(conn, "recalculated_leads")
        events.check_release_invariant(conn, "recalculated_leads")
    if recalculation_id is None:
        return result
    log.info("recalculation %s: %s", recalculation_id, result.to_json())
    return dataclasses.replace(result, recalculation_id=recalculation_id)


def _result(
    examined: int, adjustments: pl.DataFrame, unpriced: pl.DataFrame, dry_run: bool
) -> RecalculationResult:
    unpriced_leads = tuple(UnpricedLead(**row) for row in unpriced.iter_rows(named=True))
    if adjustments.is_empty():
        return RecalculationResult(
            examined, 0, 0, Decimal("0.00"), Decimal("0.00"), dry_run, unpriced=unpriced_leads
        )
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
        unpriced=unpriced_leads,
    )
