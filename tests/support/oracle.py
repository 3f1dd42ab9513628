"""A deliberately plain, row-by-row restatement of SPEC §4, used to check test data.

It is the independent second opinion on the sample files' README numbers and on the
generator's expected_outcomes.json; it is not how the engine works (that is vectorised).
What a product is (its MIS columns, its rule parameters, how its KPIs follow from a rule)
comes from the product handlers, so a new product needs nothing here; the outcomes are
decided here, one row at a time. Every file is read as a first delivery: a Success lead
was paid before (`already_paid`).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

from payout_core.engine.products import (
    AMOUNT,
    FACTS,
    MINOR_UNITS_PER_UNIT,
    Fact,
    ProductHandler,
    handler_for,
)

SPEC_DATE_FORMAT = "%d %m %Y"
OUTCOMES = ("invalid", "duplicate", "not_shiftpay_lead", "not_payable", "no_active_rule",
            "paid", "kpi_earned", "adjusted", "already_paid")  # fmt: skip
_AMOUNT = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class OracleResult:
    outcome_counts: Counter[str]
    total_payin: Decimal
    total_payout: Decimal


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _decimal(text: str) -> Decimal:
    return Decimal(text) if text.strip() else Decimal(0)


def _spec_date(text: str) -> date:
    return datetime.strptime(text, SPEC_DATE_FORMAT).date()


def _parse_date(text: str, date_format: str) -> date | None:
    text = text.strip()
    if date_format == SPEC_DATE_FORMAT and not re.fullmatch(r"\d{1,2} \d{2} \d{4}", text):
        return None
    try:
        return datetime.strptime(text, date_format).date()
    except ValueError:
        return None


def _kpi_amounts(
    handler: ProductHandler, rule: dict[str, str], facts: dict[str, object]
) -> tuple[Decimal, Decimal]:
    """(payin, payout) of every KPI the row's facts earn under the rule, by the handler's
    own declarations evaluated on this one row. `facts`: MIS column -> Decimal amount, date
    or None (not stated)."""
    row = pl.DataFrame(
        {
            **{
                fact.frame_column: pl.Series(
                    [_fact_value(fact, facts[fact.column])],
                    dtype=pl.Int64 if fact.kind is AMOUNT else pl.Date,
                )
                for fact in handler.facts
            },
            **{
                parameter.frame_column: [
                    int(_decimal(rule.get(parameter.header) or "") * parameter.kind.scale)
                ]
                for parameter in handler.rule_parameters
            },
        }
    )
    payin = payout = Decimal(0)
    for kpi in handler.kpis:
        earned = row.select(
            qualifies=kpi.qualifies(FACTS), payin=kpi.payin(FACTS), payout=kpi.payout(FACTS)
        ).row(0, named=True)
        if earned["qualifies"]:
            payin += Decimal(earned["payin"]) / MINOR_UNITS_PER_UNIT
            payout += Decimal(earned["payout"]) / MINOR_UNITS_PER_UNIT
    return payin, payout


def _fact_value(fact: Fact, value: object) -> object:
    if value is None or fact.kind is not AMOUNT:
        return value
    return int(value * MINOR_UNITS_PER_UNIT)  # type: ignore[operator]


def _facts(
    handler: ProductHandler, row: dict[str, str], date_format: str
) -> dict[str, object] | None:
    """The row's facts (None for one not stated), or None when one is unreadable or a
    required one is blank (the row is invalid)."""
    found: dict[str, object] = {}
    for fact in handler.facts:
        text = (row.get(fact.column) or "").strip()
        if not text:
            if fact.required:
                return None
            found[fact.column] = None
        elif fact.kind is AMOUNT:
            if not _AMOUNT.match(text):
                return None
            found[fact.column] = Decimal(text)
        else:
            found[fact.column] = _parse_date(text, date_format)
            if found[fact.column] is None:
                return None
    return found


def classify_file(
    mis_path: Path,
    leads_path: Path,
    rules_path: Path,
    *,
    tracking_column: str = "TrackingId",
    date_format: str = SPEC_DATE_FORMAT,
) -> OracleResult:
    leads = {row["LeadId"]: row for row in _read(leads_path)}
    rules = _read(rules_path)
    counts: Counter[str] = Counter(dict.fromkeys(OUTCOMES, 0))
    payin_total = payout_total = Decimal(0)
    seen: set[str] = set()
    for row in _read(mis_path):
        handler = handler_for(row["ProductType"])
        assert handler is not None, row["ProductType"]
        tracking_id = (row[tracking_column] or "").strip()
        event_date = _parse_date(row[handler.event_date_column] or "", date_format)
        facts = _facts(handler, row, date_format)
        key = (row["SourceType"], row["MediumType"], row["ProductType"])
        lead_id = tracking_id[-8:]
        lead = leads.get(lead_id)
        if not tracking_id or event_date is None or facts is None:
            counts["invalid"] += 1
            continue
        if lead_id in seen:
            counts["duplicate"] += 1
            continue
        seen.add(lead_id)
        if lead is None:
            counts["not_shiftpay_lead"] += 1
            continue
        if (
            lead["Status"] not in ("Pending", "Success")
            or (lead["SourceType"], lead["MediumType"], lead["ProductType"]) != key
        ):
            counts["not_payable"] += 1
            continue
        if lead["Status"] == "Success":  # these files' Success leads were paid elsewhere
            counts["already_paid"] += 1
            continue
        rule = next(
            (r for r in rules
             if (r["SourceType"], r["MediumType"], r["ProductType"]) == key
             and _spec_date(r["KPIStartDate"]) <= event_date <= _spec_date(r["KPIEndDate"])),
            None,
        )  # fmt: skip
        if rule is None:
            counts["no_active_rule"] += 1
            continue
        counts["paid"] += 1
        payin, payout = _kpi_amounts(handler, rule, facts)
        payin_total += payin
        payout_total += payout
    return OracleResult(counts, payin_total, payout_total)
