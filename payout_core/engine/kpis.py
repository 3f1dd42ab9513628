"""KPIs as events (SPEC §4.1, §4.3, §8): what each row earns, adjusts, or leaves alone, per KPI.

Pure Polars over rows that `calculate.classify` has joined with their lead, the lead's
recorded facts, where each of its KPIs stands in the ledger (its balance, below), and the
rule in force. For every KPI name of SPEC §5 a row gets these columns, null where it makes
no event:

    kpi1_event_kind          'earned' | 'adjustment'
    kpi1_event_payin_minor   amount of the event (an adjustment may be negative)
    kpi1_event_payout_minor
    kpi1_event_sequence      position in the lead's KPI1 history (1 = earned)

and a later row (a lead paid here before) also `kpi1_event_status` ('held', 'rejected' or
null: the hold rule decides), `kpi1_event_hold_reason` and the KPI's worth after the
event (`kpi1_event_payin_worth_minor`, `..._payout_worth_minor`).

A KPI is earned when a row qualifies for it and the lead has no event for it yet (on
`paid`, or later: `kpi_earned`). An earned KPI is weighed against its balance (SPEC §8):

- the payin follows the bank's facts: the event's payin is the worth's payin minus the
  payin of every event so far, whatever their state;
- the payout moves only when the worth changed from the one the ledger last recorded, and
  is measured from what was released plus what waits for a decision (never from held or
  rejected money as if it had been paid, never on top of a pending clawback);
- an event written while others of the KPI wait is held with them: decided together;
- a KPI whose earned event was rejected pays nothing any more: its events carry the
  bank's payin only and are written 'rejected'.

Money is exact: integer minor units, so "new worth - what stands" has no rounding.
"""

from __future__ import annotations

import polars as pl

from payout_core.engine import facts
from payout_core.engine.amounts import minor_text
from payout_core.engine.holds import HoldLimits, hold_reason_expression
from payout_core.engine.products import FACTS, ZERO, Kpi, ProductHandler

# What the ledger knows of a lead paid here beyond the leads table (null otherwise).
# basis_facts: engine/facts.as_json (null for a lead paid before it was kept, whose
# basis_amount_minor is its product's amount).
LEAD_FACTS_SCHEMA = {
    "date_of_sale": pl.Date,
    "basis_facts": pl.String,
    "basis_amount_minor": pl.Int64,
}

# Where one KPI of one lead stands (migration 005's lead_kpi_balances), one row per (lead,
# KPI) with events. `latest_payout_worth_minor` is null for an adjustment written before
# the ledger kept worths: then what stands (released + pending) is taken as the worth.
BALANCES_SCHEMA = {
    "lead_id": pl.String,
    "kpi": pl.String,
    "payin_total_minor": pl.Int64,
    "released_payout_minor": pl.Int64,
    "pending_payout_minor": pl.Int64,
    "pending_event_ids": pl.String,
    "kpi_rejected": pl.Boolean,
    "last_sequence": pl.Int64,
    "latest_payout_worth_minor": pl.Int64,
}
BALANCE_FIELDS = tuple(column for column in BALANCES_SCHEMA if column not in ("lead_id", "kpi"))
EVENT_FIELDS = ("event_kind", "event_payin_minor", "event_payout_minor", "event_sequence")
LATER_EVENT_FIELDS = (
    *EVENT_FIELDS,
    "event_status",
    "event_hold_reason",
    "event_payin_worth_minor",
    "event_payout_worth_minor",
)


def prefix(name: str) -> str:
    return name.lower()


def balances_by_lead(balances: pl.DataFrame, handler: ProductHandler) -> pl.DataFrame:
    """BALANCES_SCHEMA rows (long) as one row per lead, `kpi1_released_payout_minor`, ...
    for every KPI of the product (null where the lead has no event of that KPI)."""
    wide = balances.select("lead_id").unique()
    for kpi in handler.kpis:
        of_kpi = balances.filter(pl.col("kpi") == kpi.name).select(
            "lead_id",
            *(pl.col(field).alias(f"{prefix(kpi.name)}_{field}") for field in BALANCE_FIELDS),
        )
        wide = wide.join(of_kpi, on="lead_id", how="left")
    schema = {
        "lead_id": pl.String,
        **{
            f"{prefix(kpi.name)}_{field}": BALANCES_SCHEMA[field]
            for kpi in handler.kpis
            for field in BALANCE_FIELDS
        },
    }
    return wide.cast(schema)  # type: ignore[arg-type]


def worth_columns(handler: ProductHandler, *, rule_amounts: bool = False) -> list[pl.Expr]:
    """Per KPI of the product: whether the row's facts qualify and what the KPI is worth
    under them (0 when they do not qualify). With `rule_amounts`, also the rule's amounts
    whatever the facts (`kpi1_payout_rule_minor`): what a milestone, once earned, is worth
    under a corrected rule."""
    columns = []
    for kpi in handler.kpis:
        qualifies = kpi.qualifies(FACTS)
        for side in ("payin", "payout"):
            rule_amount = getattr(kpi, side)(FACTS).cast(pl.Int64)
            columns.append(
                pl.when(qualifies)
                .then(rule_amount)
                .otherwise(ZERO)
                .alias(f"{prefix(kpi.name)}_{side}_worth_minor")
            )
            if rule_amounts:
                columns.append(rule_amount.alias(f"{prefix(kpi.name)}_{side}_rule_minor"))
        columns.append(qualifies.fill_null(False).alias(f"{prefix(kpi.name)}_qualifies"))
    return columns


def worth_column_names(handler: ProductHandler) -> list[str]:
    """What `worth_columns` adds (without rule amounts)."""
    return [
        f"{prefix(kpi.name)}_{column}"
        for kpi in handler.kpis
        for column in ("payin_worth_minor", "payout_worth_minor", "qualifies")
    ]


def paid_event_columns(handler: ProductHandler, pays: pl.Expr) -> list[pl.Expr]:
    """The four event columns per KPI of a row that pays a Pending lead (`pays`): every
    KPI the row qualifies for is earned, at its worth."""
    columns = []
    for kpi in handler.kpis:
        p = prefix(kpi.name)
        earns = pays & pl.col(f"{p}_qualifies")
        columns += [
            pl.when(earns).then(pl.lit("earned")).alias(f"{p}_event_kind"),
            pl.when(earns).then(pl.col(f"{p}_payin_worth_minor")).alias(f"{p}_event_payin_minor"),
            pl.when(earns).then(pl.col(f"{p}_payout_worth_minor")).alias(f"{p}_event_payout_minor"),
            pl.when(earns).then(pl.lit(1, dtype=pl.Int64)).alias(f"{p}_event_sequence"),
        ]
    return columns


def later_event_columns(
    handler: ProductHandler,
    *,
    revisits: pl.Expr,
    milestones_follow_rules: bool = False,
) -> list[pl.Expr]:
    """The event columns (LATER_EVENT_FIELDS) per KPI of a row weighed against the lead's
    balances (`balances_by_lead` columns), when `revisits`.

    A correctable KPI is worth the rule applied to the row's amount (0 when it no longer
    qualifies); a milestone never moves with a later amount, unless
    `milestones_follow_rules` (a recalculation): then it is worth its rule's amounts.
    """
    columns = []
    for kpi in handler.kpis:
        columns += _kpi_event_columns(prefix(kpi.name), kpi, revisits, milestones_follow_rules)
    return columns


def _kpi_event_columns(
    p: str, kpi: Kpi, revisits: pl.Expr, milestones_follow_rules: bool
) -> list[pl.Expr]:
    def column(field: str) -> pl.Expr:
        return pl.col(f"{p}_{field}")

    earned_before = column("last_sequence").is_not_null()
    rejected = column("kpi_rejected").fill_null(False)
    released = column("released_payout_minor").fill_null(0)
    standing = released + column("pending_payout_minor").fill_null(0)
    if kpi.correctable:
        payin_worth, payout_worth = column("payin_worth_minor"), column("payout_worth_minor")
    else:
        payin_worth, payout_worth = column("payin_rule_minor"), column("payout_rule_minor")
    payout_worth = pl.when(rejected).then(ZERO).otherwise(payout_worth)
    last_worth = column("latest_payout_worth_minor").fill_null(standing)
    payin_change = payin_worth - column("payin_total_minor").fill_null(0)
    # The payout moves only when its worth moved: a waived clawback is not asked again
    # because the bank's payin changed, nor because the same facts arrived once more.
    # A rejected KPI neither pays nor takes back anything any more (SPEC §8).
    payout_change = (
        pl.when(~rejected & (payout_worth != last_worth))
        .then(payout_worth - standing)
        .otherwise(ZERO)
    )
    earns = revisits & ~earned_before & column("qualifies")
    adjustable = kpi.correctable or milestones_follow_rules
    adjusts = (
        revisits & earned_before & ((payin_change != 0) | (payout_change != 0))
        if adjustable
        else pl.lit(False)
    )
    waiting = column("pending_event_ids")
    return [
        pl.when(earns)
        .then(pl.lit("earned"))
        .when(adjusts)
        .then(pl.lit("adjustment"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(f"{p}_event_kind"),
        pl.when(earns)
        .then(column("payin_worth_minor"))
        .when(adjusts)
        .then(payin_change)
        .alias(f"{p}_event_payin_minor"),
        pl.when(earns)
        .then(column("payout_worth_minor"))
        .when(adjusts)
        .then(payout_change)
        .alias(f"{p}_event_payout_minor"),
        pl.when(earns)
        .then(pl.lit(1, dtype=pl.Int64))
        .when(adjusts)
        .then(column("last_sequence") + 1)
        .alias(f"{p}_event_sequence"),
        pl.when(adjusts & rejected)
        .then(pl.lit("rejected"))
        .when(adjusts & waiting.is_not_null())
        .then(pl.lit("held"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(f"{p}_event_status"),
        pl.when(adjusts & ~rejected & waiting.is_not_null())
        .then(
            pl.format(
                "decided together with event(s) {} of {}, still waiting for a decision: "
                "a correction never lands on top of money that may still be taken back "
                "or waived",
                waiting,
                pl.lit(kpi.name),
            )
        )
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias(f"{p}_event_hold_reason"),
        pl.when(adjusts).then(payin_worth).alias(f"{p}_event_payin_worth_minor"),
        pl.when(adjusts).then(payout_worth).alias(f"{p}_event_payout_worth_minor"),
    ]


def any_event(handler: ProductHandler, kind: str) -> pl.Expr:
    return pl.any_horizontal(
        (pl.col(f"{prefix(kpi.name)}_event_kind") == kind).fill_null(False)
        for kpi in handler.kpis
    )


def net_columns(handler: ProductHandler) -> list[pl.Expr]:
    """What the row's events add up to (0 when it makes none)."""
    return [
        pl.sum_horizontal(
            pl.col(f"{prefix(kpi.name)}_event_{side}_minor").fill_null(0)
            for kpi in handler.kpis
        ).alias(f"net_{side}_minor")
        for side in ("payin", "payout")
    ]


def later_event_reason(kpi: Kpi, handler: ProductHandler) -> pl.Expr:
    """The reason of a later MIS row's event for this KPI, in words (null: no event)."""
    p = prefix(kpi.name)
    kind = pl.col(f"{p}_event_kind")
    stated = facts.in_words(handler)
    return (
        pl.when(kind.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(kind == "earned")
        .then(
            pl.format(
                f"{kpi.name} earned after the lead was paid: {kpi.earned_when} ({{}})", stated
            )
        )
        .otherwise(adjustment_reason(kpi, pl.format(f"{kpi.name} recomputed from {{}}", stated)))
    )


def adjustment_reason(kpi: Kpi, what: pl.Expr) -> pl.Expr:
    """`what` (e.g. "KPI1 recomputed from DisbursedAmount 40000.00"), then the worth it
    comes to and where the KPI stood, in words: the arithmetic of the adjustment."""
    p = prefix(kpi.name)

    def money(field: str) -> pl.Expr:
        return minor_text(pl.col(f"{p}_{field}").fill_null(0))

    pending = pl.col(f"{p}_pending_payout_minor").fill_null(0)
    return pl.concat_str(
        [
            pl.format(
                "{}: worth payin {}, payout {}; before it, bank payin {}, released payout {}",
                what,
                minor_text(pl.col(f"{p}_event_payin_worth_minor")),
                minor_text(pl.col(f"{p}_event_payout_worth_minor")),
                money("payin_total_minor"),
                money("released_payout_minor"),
            ),
            pl.when(pending != 0).then(
                pl.format("awaiting a decision {}", money("pending_payout_minor"))
            ),
            pl.when(pl.col(f"{p}_kpi_rejected").fill_null(False)).then(
                pl.lit(
                    f"{kpi.name} was rejected for this lead: only the bank's payin changes, "
                    "nothing is paid to the SP"
                )
            ),
        ],
        separator="; ",
        ignore_nulls=True,
    )


def row_event_summary(handler: ProductHandler) -> pl.Expr:
    """For a `kpi_earned` / `adjusted` row, what its events did, in words (the reason in
    the per-file CSV of rows not paid)."""
    parts = []
    for kpi in handler.kpis:
        p = prefix(kpi.name)
        kind = pl.col(f"{p}_event_kind")
        parts.append(
            pl.when(kind.is_not_null()).then(
                pl.format(
                    "{} {}: payin {}, payout {}",
                    pl.lit(kpi.name),
                    pl.when(kind == "earned")
                    .then(pl.lit("earned after the lead was paid"))
                    .otherwise(pl.lit("adjusted")),
                    minor_text(pl.col(f"{p}_event_payin_minor")),
                    minor_text(pl.col(f"{p}_event_payout_minor")),
                )
            )
        )
    return pl.concat_str(
        [*parts, pl.format("({})", facts.in_words(handler))], separator="; ", ignore_nulls=True
    )


EVENTS_SCHEMA = {
    "lead_id": pl.String,
    "sp_id": pl.String,
    "source_type": pl.String,
    "medium_type": pl.String,
    "product_type": pl.String,
    "kpi": pl.String,
    "kind": pl.String,
    "outcome": pl.String,
    "kpi_sequence": pl.Int64,
    "payin_minor": pl.Int64,
    "payout_minor": pl.Int64,
    "reason": pl.String,
    "rule_id": pl.Int64,
    "status": pl.String,
    "hold_reason": pl.String,
    "payin_worth_minor": pl.Int64,
    "payout_worth_minor": pl.Int64,
    "mis_row_number": pl.Int64,
}


def events(
    classified: pl.DataFrame, handler: ProductHandler, hold_limits: HoldLimits
) -> pl.DataFrame:
    """One row per event the classified rows make (EVENTS_SCHEMA), KPI by KPI, each with
    its status at creation and why: 'rejected' for a KPI rejected before, 'held' with the
    events it waits for, else as SPEC §8's hold rule says (engine/holds.py)."""
    outcome = pl.col("outcome")
    per_kpi = []
    for kpi in handler.kpis:
        p = prefix(kpi.name)
        kind = pl.col(f"{p}_event_kind")
        per_kpi.append(
            classified.filter(kind.is_not_null()).select(
                "lead_id",
                "sp_id",
                "source_type",
                "medium_type",
                "product_type",
                pl.lit(kpi.name).alias("kpi"),
                kind.alias("kind"),
                pl.when(outcome == "paid")
                .then(pl.lit("paid"))
                .when(kind == "earned")
                .then(pl.lit("kpi_earned"))
                .otherwise(pl.lit("adjusted"))
                .alias("outcome"),
                pl.col(f"{p}_event_sequence").alias("kpi_sequence"),
                pl.col(f"{p}_event_payin_minor").alias("payin_minor"),
                pl.col(f"{p}_event_payout_minor").alias("payout_minor"),
                pl.when(outcome == "paid")
                .then(pl.lit(f"{kpi.name} earned: {kpi.earned_when}"))
                .otherwise(pl.col(f"{p}_event_reason"))
                .alias("reason"),
                "rule_id",
                *(
                    _optional(classified, f"{p}_{field}", EVENTS_SCHEMA[name]).alias(name)
                    for field, name in (
                        ("event_status", "status"),
                        ("event_hold_reason", "hold_reason"),
                        ("event_payin_worth_minor", "payin_worth_minor"),
                        ("event_payout_worth_minor", "payout_worth_minor"),
                    )
                ),
                # The MIS row that made it (SPEC §10); a recalculation has none.
                _optional(classified, "row_number", pl.Int64).alias("mis_row_number"),
            )
        )
    if not per_kpi:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    made = pl.concat(per_kpi).cast(EVENTS_SCHEMA)  # type: ignore[arg-type]
    return with_hold_status(made, hold_limits)


def with_hold_status(made: pl.DataFrame, hold_limits: HoldLimits) -> pl.DataFrame:
    """EVENTS_SCHEMA rows whose status is still open (null) decided by the hold rule; a
    held event's reason names every rule that holds it."""
    rule_reason = hold_reason_expression(hold_limits, payout_amount_minor="payout_minor")
    status = (
        pl.when(pl.col("status").is_not_null())
        .then(pl.col("status"))
        .when(rule_reason.is_not_null())
        .then(pl.lit("held"))
        .otherwise(pl.lit("released"))
    )
    return made.with_columns(status.alias("status")).with_columns(
        pl.when(pl.col("status") == "held")
        .then(
            pl.concat_str([pl.col("hold_reason"), rule_reason], separator="; ", ignore_nulls=True)
        )
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("hold_reason")
    )


def _optional(frame: pl.DataFrame, column: str, dtype: pl.DataType) -> pl.Expr:
    """A column later rows carry and first payments do not (null there)."""
    return pl.col(column) if column in frame.columns else pl.lit(None, dtype=dtype)
