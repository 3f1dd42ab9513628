"""The calculation: typed MIS rows + leads + rules -> one outcome per row and exact amounts.

Pure Polars, no I/O: every input is a frame, every output a frame, so it runs the same in
a unit test, the blob trigger and the benchmark. SPEC §4 is the contract: for each row the
first failing test decides its outcome, and every row lands in exactly one outcome.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from payout_core.engine import corrections, facts, kpis
from payout_core.engine.products import ProductHandler

OUTCOMES = (
    "invalid",
    "duplicate",
    "not_shiftpay_lead",
    "not_payable",
    "no_active_rule",
    "paid",
    "kpi_earned",
    "adjusted",
    "already_paid",
)
KEY_COLUMNS = ["source_type", "medium_type", "product_type"]
# SPEC §5's final table has a column pair for these KPIs; a product's other KPIs are in
# its totals and in the per-KPI sums (the ledger's payout_calculation_kpis).
SPEC_KPI_COLUMN_PAIRS = ("KPI1", "KPI2")
KPI_COLUMNS = [
    "kpi1_payin_amount_minor",
    "kpi1_payout_amount_minor",
    "kpi2_payin_amount_minor",
    "kpi2_payout_amount_minor",
]

# SPEC §5, the final calculation table: its columns in order, as named in the database.
SUCCESS_COLUMNS = (
    "created_at",
    "source_type",
    "medium_type",
    "product_type",
    "sp_id",
    "lead_id",
    "status",
    "sub_status",
    "date_of_sale",
    "date_of_revenue",
    *(column.removesuffix("_minor") for column in KPI_COLUMNS),
    "total_payin",
    "total_payout",
)

# What the ledger returns for the LeadIds of a batch: one row per known lead, and for a
# lead paid here, its facts and what its KPIs were paid so far (kpis.LEAD_FACTS_SCHEMA;
# optional: missing columns mean "never paid here").
LEADS_SCHEMA = {
    "lead_id": pl.String,
    "sp_id": pl.String,
    "lead_source_type": pl.String,
    "lead_medium_type": pl.String,
    "lead_product_type": pl.String,
    "lead_status": pl.String,
}


class InvariantViolation(RuntimeError):
    """The calculation broke its own contract: a bug, never bad input. Nothing is written."""


class SeenLeadIds:
    """The LeadIds of a file's earlier batches, for SPEC §4 `duplicate`.

    Ten million of them must fit beside a batch: a LeadId of 8 ASCII bytes (the norm) is
    packed exactly into a UInt64 and kept in one sorted array probed by binary search, 8
    bytes per LeadId and no hash table rebuilt per batch. Any other LeadId (non-ASCII
    characters) is kept as text. Exact either way: no hashing, no false duplicates.
    """

    def __init__(self) -> None:
        self._packed = pl.Series("packed", [], dtype=pl.UInt64)  # sorted, no repeats
        self._text = pl.Series("lead_id", [], dtype=pl.String)

    def __len__(self) -> int:
        return self._packed.len() + self._text.len()

    def contains(self, lead_ids: pl.Series) -> pl.Series:
        """True where the LeadId was added before (null LeadIds: False)."""
        packed = _packed(lead_ids)
        found = pl.repeat(False, lead_ids.len(), eager=True)
        if self._packed.len():
            positions = self._packed.search_sorted(packed.fill_null(0), side="left")
            nearest = self._packed.gather(positions.clip(upper_bound=self._packed.len() - 1))
            found = (nearest == packed).fill_null(False)
        if self._text.len():
            found = found | lead_ids.is_in(self._text.implode()).fill_null(False)
        return found

    def add(self, lead_ids: pl.Series) -> None:
        new = lead_ids.drop_nulls().unique()
        new = new.filter(~self.contains(new))
        packed = _packed(new)
        additions = packed.drop_nulls().sort()
        if additions.len():
            self._packed = (
                self._packed.to_frame().merge_sorted(additions.to_frame(), key="packed").to_series()
            )
        if packed.null_count():
            self._text = pl.concat([self._text, new.filter(packed.is_null())])


def _packed(lead_ids: pl.Series) -> pl.Series:
    """A LeadId of exactly 8 bytes as the big-endian UInt64 of its bytes; otherwise null."""
    return (
        pl.select(
            pl.when(lead_ids.str.len_bytes() == 8)
            .then(lead_ids)
            .cast(pl.Binary)
            .bin.reinterpret(dtype=pl.UInt64, endianness="big")
        )
        .to_series()
        .alias("packed")
    )


def classify(
    rows: pl.DataFrame,
    *,
    leads: pl.DataFrame,
    rules: pl.DataFrame,
    handler: ProductHandler,
    seen: SeenLeadIds | None = None,
    balances: pl.DataFrame | None = None,
    redelivery_of_run: int | None = None,
) -> pl.DataFrame:
    """Each typed MIS row (see mis.py) with its outcome, SP, rule, KPI amounts and KPI
    events (kpis.py); the reason of a row not paid is written by `rejected_rows`, for
    those rows only.

    `seen` holds the LeadIds of the file's earlier batches (for `duplicate`); `leads` at
    least the leads of this batch's LeadIds (LEADS_SCHEMA, facts optional); `balances`
    where each KPI of its Success leads stands (kpis.BALANCES_SCHEMA); `rules` the rules in
    force for the product (rules.rule_frame_schema()). `redelivery_of_run`: the
    MIS run that already processed these very bytes; its rows for paid leads change
    nothing (re-delivering an older file must not undo a later correction).
    """
    earlier = seen.contains(rows["lead_id"]) if seen is not None and len(seen) else None
    joined = rows.with_columns(_is_duplicate(earlier).alias("is_duplicate")).join(
        leads.select(list(LEADS_SCHEMA)), on="lead_id", how="left", maintain_order="left"
    )
    joined = joined.join(
        _rule_matches(joined, rules), on=[*KEY_COLUMNS, "event_date"], how="left",
        maintain_order="left",
    )  # fmt: skip
    paid = pl.col("outcome") == "paid"
    classified = (
        joined.with_columns(_outcome().alias("outcome"))
        .with_columns(kpis.worth_columns(handler))
        .with_columns(kpis.paid_event_columns(handler, paid))
        # Rule parameters may share names with SPEC §5's KPI columns (KPI1PayinAmount):
        # dropped before those are written; what is left to do needs none of them.
        .drop(_rule_and_worth_columns(rules, handler))
        .with_columns(*_paid_kpi_amounts(handler, paid), *kpis.net_columns(handler))
    )
    weighed = corrections.weigh(
        classified.filter(pl.col("outcome") == "already_paid").select(
            "row_number",
            "lead_id",
            *KEY_COLUMNS,
            "event_date",
            *(fact.frame_column for fact in handler.facts),
        ),
        known=corrections.lead_facts(leads),
        balances=pl.DataFrame(schema=kpis.BALANCES_SCHEMA) if balances is None else balances,
        rules=rules,
        handler=handler,
        key_columns=KEY_COLUMNS,
        redelivery_of_run=redelivery_of_run,
    )
    classified = _merge_later(classified, weighed)
    _check_invariants(rows, classified)
    return classified


def _rule_and_worth_columns(rules: pl.DataFrame, handler: ProductHandler) -> list[str]:
    kept = (*KEY_COLUMNS, "rule_id", "kpi_start_date", "kpi_end_date")
    return [
        *(column for column in rules.columns if column not in kept),
        *kpis.worth_column_names(handler),
    ]


def _merge_later(classified: pl.DataFrame, weighed: pl.DataFrame) -> pl.DataFrame:
    """The rows `corrections.weigh` decided, merged back by row_number (their outcome, events,
    net and reasons); other rows get null reasons."""
    merged = classified.join(
        weighed, on="row_number", how="left", maintain_order="left", suffix="_later"
    )
    replaced = [c for c in weighed.columns if c != "row_number" and c in classified.columns]
    return merged.with_columns(
        pl.coalesce(f"{column}_later", column).alias(column) for column in replaced
    ).drop(f"{column}_later" for column in replaced)


def _paid_kpi_amounts(handler: ProductHandler, paid: pl.Expr) -> list[pl.Expr]:
    """SPEC §5's columns of a paid row: what KPI1 and KPI2 earned (0 if not earned, or the
    product has no such KPI), and its totals over every KPI the product has."""

    def earned(name: str, side: str) -> pl.Expr:
        column = f"{name.lower()}_event_{side}_minor"
        return pl.col(column).fill_null(0) if handler.kpi(name) else pl.lit(0, dtype=pl.Int64)

    return [
        *(
            pl.when(paid).then(earned(name, side)).alias(f"{name.lower()}_{side}_amount_minor")
            for name in SPEC_KPI_COLUMN_PAIRS
            for side in ("payin", "payout")
        ),
        *(
            pl.when(paid)
            .then(pl.sum_horizontal(earned(kpi.name, side) for kpi in handler.kpis))
            .alias(f"total_{side}_minor")
            for side in ("payin", "payout")
        ),
    ]


def _is_duplicate(earlier: pl.Series | None) -> pl.Expr:
    lead_id = pl.col("lead_id")
    seen_earlier = ~lead_id.is_first_distinct()
    if earlier is not None:
        seen_earlier = seen_earlier | pl.lit(earlier)
    return lead_id.is_not_null() & seen_earlier


def _rule_matches(rows: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """The rule in force per (key, event date). Joined on the few distinct pairs rather than
    on every row, so a million-row file costs one small join, not a million-row fan-out."""
    pairs = rows.select(*KEY_COLUMNS, "event_date").drop_nulls().unique()
    return (
        pairs.join(rules, on=KEY_COLUMNS, how="inner")
        .filter(pl.col("event_date").is_between("kpi_start_date", "kpi_end_date"))
        .drop("kpi_start_date", "kpi_end_date")
    )


def _keys_differ() -> pl.Expr:
    return pl.any_horizontal(
        pl.col(column).ne_missing(pl.col(f"lead_{column}")) for column in KEY_COLUMNS
    )


def _outcome() -> pl.Expr:
    """SPEC §4, in order: the first failing test decides."""
    return (
        pl.when(pl.col("invalid_reason").is_not_null())
        .then(pl.lit("invalid"))
        .when(pl.col("is_duplicate"))
        .then(pl.lit("duplicate"))
        .when(pl.col("sp_id").is_null())
        .then(pl.lit("not_shiftpay_lead"))
        .when(~pl.col("lead_status").is_in(["Pending", "Success"]) | _keys_differ())
        .then(pl.lit("not_payable"))
        .when(pl.col("lead_status") == "Success")
        .then(pl.lit("already_paid"))  # or kpi_earned / adjusted: see classify
        .when(pl.col("rule_id").is_null())
        .then(pl.lit("no_active_rule"))
        .otherwise(pl.lit("paid"))
    )


def _keys_text(prefix: str = "") -> pl.Expr:
    return pl.concat_str(
        [pl.col(f"{prefix}{column}").fill_null("(blank)") for column in KEY_COLUMNS],
        separator=" / ",
    )


def _reason() -> pl.Expr:
    """Why a row was not paid, in words finance can act on."""
    outcome = pl.col("outcome")
    return (
        pl.when(outcome == "invalid")
        .then(pl.col("invalid_reason"))
        .when(outcome == "duplicate")
        .then(pl.format("LeadId {} already appeared earlier in this file", pl.col("lead_id")))
        .when(outcome == "not_shiftpay_lead")
        .then(pl.format("LeadId {} is not a ShiftPay lead", pl.col("lead_id")))
        .when(outcome.is_in(["kpi_earned", "adjusted", "already_paid"]))
        .then(pl.col("later_reason"))
        .when((outcome == "not_payable") & ~pl.col("lead_status").is_in(["Pending", "Success"]))
        .then(pl.format("lead status is {}, not Pending or Success", pl.col("lead_status")))
        .when(outcome == "not_payable")
        .then(pl.format("lead is {} but the MIS row says {}", _keys_text("lead_"), _keys_text()))
        .when(outcome == "no_active_rule")
        .then(
            pl.format(
                "no rule for {} on {}", _keys_text(), pl.col("event_date").dt.strftime("%d %m %Y")
            )
        )
    )


def _check_invariants(rows: pl.DataFrame, classified: pl.DataFrame) -> None:
    if classified.height != rows.height:
        raise InvariantViolation(f"{rows.height} rows in, {classified.height} classified")
    unclassified = classified["outcome"].null_count()
    if unclassified:
        raise InvariantViolation(f"{unclassified} rows without an outcome")


def outcome_counts(classified: pl.DataFrame) -> dict[str, int]:
    """Every outcome, zero included, in SPEC order."""
    counted = dict(classified.group_by("outcome").len().iter_rows())
    return {outcome: int(counted.get(outcome, 0)) for outcome in OUTCOMES}


def paid_rows(classified: pl.DataFrame, handler: ProductHandler) -> pl.DataFrame:
    """The rows to record: SPEC §5 facts of each paid lead, amounts in minor units."""
    return first_payments(classified).select(
        "lead_id",
        "sp_id",
        *KEY_COLUMNS,
        pl.lit(handler.success_sub_status).alias("sub_status"),
        pl.col("event_date").alias("date_of_sale"),
        *KPI_COLUMNS,
        "total_payin_minor",
        "total_payout_minor",
        facts.as_json(handler),
        "rule_id",
    )


def first_payments(classified: pl.DataFrame) -> pl.DataFrame:
    """The classified rows that pay their lead for the first time (their KPI events are
    the KPIs earned on payment)."""
    return classified.filter(pl.col("outcome") == "paid")


def later_rows(classified: pl.DataFrame) -> pl.DataFrame:
    """The rows that earned a KPI late or adjusted one (few: filtered before their events
    and reasons are built)."""
    return classified.filter(pl.col("outcome").is_in(["kpi_earned", "adjusted"]))


def later_facts(classified: pl.DataFrame, handler: ProductHandler) -> pl.DataFrame:
    """(lead_id, basis_facts) of the rows for leads paid before that state new facts: the
    latest facts their KPIs now stand on, whether or not they moved money."""
    return classified.filter(pl.col("new_basis").fill_null(False)).select(
        "lead_id", facts.as_json(handler)
    )


def net_totals_minor(classified: pl.DataFrame) -> dict[str, int]:
    """What a batch's events add up to, in minor units (exact): the net payin and payout
    the file moves (adjustments may be negative)."""
    sums = classified.select(pl.col("net_payin_minor", "net_payout_minor").sum())
    return {name: int(value or 0) for name, value in sums.row(0, named=True).items()}


def rejected_rows(classified: pl.DataFrame) -> pl.DataFrame:
    """Every row not paid, with its outcome and reason, as read (for people); a row that
    earned a KPI late or adjusted one says what it did. Reasons are sentences: formatted
    here, for these rows only, not for every row classified."""
    return classified.filter(pl.col("outcome") != "paid").select(
        "row_number",
        "tracking_id",
        "lead_id",
        *KEY_COLUMNS,
        "event_date_text",
        "amount_text",
        "outcome",
        _reason().alias("reason"),
    )


def date_of_revenue(processed_at: dt.datetime) -> dt.date:
    """SPEC §5: DateOfRevenue is the processing date."""
    return processed_at.date()
