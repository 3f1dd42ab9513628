"""`payout recalculate` (SPEC §4.3): paid leads re-weighed under the rules in force now,
corrected by appending events (never by editing one).

Set-based: per product, one COPY out of the paid leads in range and one of where their
KPIs stand, the worth computed in Polars (engine/recalculation.py), one COPY of the events
in, one statement refreshing the affected calculations, the release invariant checked on
them. One unit of work: a dry run never commits it, and a run that collides with an MIS
file (both appending to one lead's KPI history) is retried from the start with fresh facts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal

import polars as pl

from payout_core.engine import ledger_rows, recalculation
from payout_core.engine.amounts import minor_to_decimal
from payout_core.engine.people import UnreadableName, person_name
from payout_core.engine.products import ProductHandler, all_handlers
from payout_core.errors import ConfigurationError
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db
from payout_core.ledger import recalculation as recalculation_ledger
from payout_core.ledger import rules as rules_ledger

log = logging.getLogger(__name__)


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
    context: Context,
    *,
    requested_by: str,
    product_type: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    dry_run: bool = False,
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
        return _recalculate_once(
            context, handlers, date_from, date_to, requested_by, dry_run=dry_run
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
    context: Context,
    handlers: list[ProductHandler],
    date_from: dt.date | None,
    date_to: dt.date | None,
    requested_by: str,
    *,
    dry_run: bool,
) -> RecalculationResult:
    with context.unit_of_work() as uow:
        recalculation_ledger.lock(uow.conn)
        examined = 0
        found = []
        for handler in handlers:
            paid_leads, balances = recalculation_ledger.paid_leads(
                uow.conn, handler.product_type, date_from, date_to
            )
            examined += paid_leads.height
            rules_in_force = rules_ledger.active_rules(uow.conn, handler.product_type)
            found.append(
                recalculation.reweigh(
                    paid_leads, balances, rules_in_force, handler, context.settings.hold_limits
                )
            )
        made = pl.concat([weighed.events for weighed in found])
        unpriced = pl.concat([weighed.unpriced for weighed in found]).sort("lead_id")
        result = _result(examined, made, unpriced, dry_run)
        if dry_run or not result.events:
            # Nothing written. A run that found nothing leaves no row either: a
            # recalculation row (reported in the next email) means money moved.
            return result
        recalculation_id = recalculation_ledger.record(
            uow.conn,
            requested_by=requested_by,
            product_type=handlers[0].product_type if len(handlers) == 1 else None,
            date_from=date_from,
            date_to=date_to,
            counts=(result.leads_examined, result.leads_adjusted, result.events),
            totals=(result.total_payin, result.total_payout),
            event_rows=ledger_rows.event_rows(made, requested_by=requested_by),
        )
        uow.commit()
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
