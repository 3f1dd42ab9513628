"""The calculation: typed MIS rows + leads + rules -> one outcome per row and exact amounts.

Pure Polars, no I/O: every input is a frame, every output a frame, so it runs the same in
a unit test, the blob trigger and the benchmark. SPEC §4 is the contract: for each row the
first failing test decides its outcome, and every row lands in exactly one outcome.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from payout_core.engine import kpis
from payout_core.engine.kpis import LEAD_FACTS_SCHEMA
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
# Outcomes of rows that append payout events (the rest move no money).
EVENT_OUTCOMES = ("paid", "kpi_earned", "adjusted")
KEY_COLUMNS = ["source_type", "medium_type", "product_type"]
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
    redelivery_of_run: int | None = None,
) -> pl.DataFrame:
    """Each typed MIS row (see mis.py) with its outcome, SP, rule, KPI amounts and KPI
    events (kpis.py); the reason of a row not paid is written by `rejected_rows`, for
    those rows only.

    `seen` holds the LeadIds of the file's earlier batches (for `duplicate`); `leads` at
    least the leads of this batch's LeadIds (LEADS_SCHEMA, facts optional); `rules` the
    rules in force for the product (rules.rule_frame_schema()). `redelivery_of_run`: the
    MIS run that already processed these very bytes; its rows for paid leads change
    nothing (re-delivering an older file must not undo a later correction).
    """
    earlier = seen.contains(rows["lead_id"]) if seen is not None and len(seen) else None
    joined = (
        rows.with_columns(_is_duplicate(earlier).alias("is_duplicate"))
        .join(with_lead_facts(leads), on="lead_id", how="left", maintain_order="left")
        .with_columns(_rule_date().alias("rule_date"))
    )
    joined = joined.join(
        _rule_matches(joined, rules), on=[*KEY_COLUMNS, "rule_date"], how="left",
        maintain_order="left",
    )  # fmt: skip
    revisits = (pl.col("outcome") == "already_paid") & _revisit_blocker().is_null()
    if redelivery_of_run is not None:
        revisits = pl.lit(False)
    paid = pl.col("outcome") == "paid"
    classified = (
        joined.with_columns(_outcome().alias("outcome"))
        .with_columns(kpis.worth_columns(handler))
        .with_columns(kpis.event_columns(handler, pays=paid, revisits=revisits))
        .with_columns(
            pl.when(kpis.any_event("earned") & ~paid)
            .then(pl.lit("kpi_earned"))
            .when(kpis.any_event("adjustment"))
            .then(pl.lit("adjusted"))
            .otherwise(pl.col("outcome"))
            .alias("outcome"),
            pl.lit(redelivery_of_run, dtype=pl.Int64).alias("redelivery_of_run"),
            *_paid_kpi_amounts(paid),
            *kpis.net_columns(),
        )
        .with_columns(
            (pl.col("kpi1_payin_amount_minor") + pl.col("kpi2_payin_amount_minor")).alias(
                "total_payin_minor"
            ),
            (pl.col("kpi1_payout_amount_minor") + pl.col("kpi2_payout_amount_minor")).alias(
                "total_payout_minor"
            ),
        )
    )
    _check_invariants(rows, classified)
    return classified


def _paid_kpi_amounts(paid: pl.Expr) -> list[pl.Expr]:
    """SPEC §5's KPI columns of a paid row: what each KPI earned (0 if not earned)."""
    return [
        pl.when(paid)
        .then(pl.col(f"{kpi}_event_{side}_minor").fill_null(0))
        .alias(f"{kpi}_{side}_amount_minor")
        for kpi in ("kpi1", "kpi2")
        for side in ("payin", "payout")
    ]


def with_lead_facts(leads: pl.DataFrame) -> pl.DataFrame:
    """`leads` with every LEAD_FACTS_SCHEMA column (null where the lookup gave none)."""
    missing = [name for name in LEAD_FACTS_SCHEMA if name not in leads.columns]
    return leads.with_columns(
        pl.lit(None, dtype=LEAD_FACTS_SCHEMA[name]).alias(name) for name in missing
    )


def _rule_date() -> pl.Expr:
    """SPEC §4.2: a lead paid here is weighed under the rule in force for its recorded
    DateOfSale, whatever date a later row states."""
    return (
        pl.when(pl.col("lead_status") == "Success")
        .then(pl.col("date_of_sale"))
        .otherwise(pl.col("event_date"))
    )


def _revisit_blocker() -> pl.Expr:
    """Why a later row for a Success lead is not weighed (null: it is)."""
    return (
        pl.when(pl.col("date_of_sale").is_null())
        .then(pl.lit("before_system"))
        .when(pl.col("event_date") != pl.col("date_of_sale"))
        .then(pl.lit("other_date"))
        .when(pl.col("rule_id").is_null())
        .then(pl.lit("no_rule"))
    )


def _is_duplicate(earlier: pl.Series | None) -> pl.Expr:
    lead_id = pl.col("lead_id")
    seen_earlier = ~lead_id.is_first_distinct()
    if earlier is not None:
        seen_earlier = seen_earlier | pl.lit(earlier)
    return lead_id.is_not_null() & seen_earlier


def _rule_matches(rows: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """The rule in force per (key, rule date). Joined on the few distinct pairs rather than
    on every row, so a million-row file costs one small join, not a million-row fan-out."""
    pairs = rows.select(*KEY_COLUMNS, "rule_date").drop_nulls().unique()
    return (
        pairs.join(rules, on=KEY_COLUMNS, how="inner")
        .filter(pl.col("rule_date").is_between("kpi_start_date", "kpi_end_date"))
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


def _already_paid_reason() -> pl.Expr:
    blocker = _revisit_blocker()
    lead = pl.col("lead_id")
    sale_date = pl.col("date_of_sale").dt.strftime("%d %m %Y")
    return (
        pl.when(blocker == "before_system")
        .then(pl.format("lead {} was already Success before it reached this ledger", lead))
        .when(blocker == "other_date")
        .then(
            pl.format(
                "lead {} was already paid for a sale on {}; this row states {}, so no amount "
                "changes",
                lead,
                sale_date,
                pl.col("event_date").dt.strftime("%d %m %Y"),
            )
        )
        .when(blocker == "no_rule")
        .then(
            pl.format(
                "lead {} was already paid; no rule is in force for its DateOfSale {}, so no "
                "amount changes",
                lead,
                sale_date,
            )
        )
        .otherwise(pl.format("lead {} was already paid; nothing new", lead))
    )


def _reason(handler: ProductHandler) -> pl.Expr:
    """Why a row was not paid, in words finance can act on."""
    outcome = pl.col("outcome")
    return (
        pl.when(outcome == "invalid")
        .then(pl.col("invalid_reason"))
        .when(outcome == "duplicate")
        .then(pl.format("LeadId {} already appeared earlier in this file", pl.col("lead_id")))
        .when(outcome == "not_shiftpay_lead")
        .then(pl.format("LeadId {} is not a ShiftPay lead", pl.col("lead_id")))
        .when(outcome.is_in(["kpi_earned", "adjusted"]))
        .then(kpis.row_event_summary(handler))
        .when((outcome == "already_paid") & pl.col("redelivery_of_run").is_not_null())
        .then(
            pl.format(
                "lead {} was already paid; this file was already processed (MIS run {}), "
                "and a re-delivery changes nothing",
                pl.col("lead_id"),
                pl.col("redelivery_of_run"),
            )
        )
        .when(outcome == "already_paid")
        .then(_already_paid_reason())
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
    return classified.filter(pl.col("outcome") == "paid").select(
        "lead_id",
        "sp_id",
        *KEY_COLUMNS,
        pl.lit(handler.success_sub_status).alias("sub_status"),
        pl.col("event_date").alias("date_of_sale"),
        *KPI_COLUMNS,
        "total_payin_minor",
        "total_payout_minor",
        pl.col("amount_minor").alias("basis_amount_minor"),
        "rule_id",
        "row_number",
    )


def later_facts(classified: pl.DataFrame) -> pl.DataFrame:
    """(lead_id, basis_amount_minor) of the rows that earned a KPI late or adjusted one:
    the amount their KPIs are now computed from."""
    return classified.filter(pl.col("outcome").is_in(["kpi_earned", "adjusted"])).select(
        "lead_id", pl.col("amount_minor").alias("basis_amount_minor")
    )


def net_totals_minor(classified: pl.DataFrame) -> dict[str, int]:
    """What a batch's events add up to, in minor units (exact): the net payin and payout
    the file moves (adjustments may be negative)."""
    sums = classified.select(pl.col("net_payin_minor", "net_payout_minor").sum())
    return {name: int(value or 0) for name, value in sums.row(0, named=True).items()}


def rejected_rows(classified: pl.DataFrame, handler: ProductHandler) -> pl.DataFrame:
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
        _reason(handler).alias("reason"),
    )


def date_of_revenue(processed_at: dt.datetime) -> dt.date:
    """SPEC §5: DateOfRevenue is the processing date."""
    return processed_at.date()
