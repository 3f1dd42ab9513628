"""Synthetic workloads of any size, in the formats of SPEC §3, for benchmarks and load tests.

    python -m localdev.generate OUT --rows N --leads L [--product P] [--seed S]

writes OUT/leads.csv, OUT/payin_payout_rules.csv, OUT/mis_<product>.csv and
OUT/expected_outcomes.json (the exact outcome counts and totals the engine must report).

How it stays fast and small: every value of a row is a pure function of the row's position
and the seed (a splitmix64 hash computed with Polars integer expressions), so the file is
produced in independent chunks of `CHUNK_ROWS` rows with no Python loop per row and no
state held between chunks. Output is deterministic for a seed and independent of the chunk
size.

The mix of outcomes is fixed in `OUTCOME_SHARES_PERCENT`. Each row's outcome is decided by
construction (which lead it names, which date and amount it carries), not by chance, so the
expected counts are exact. Rows are spread through the file by an affine permutation of
positions (a bijection, no sort). A duplicate is an exact copy of a paid row, so whichever
of the two comes first is paid and the other is the duplicate.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import string
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

import product_handlers  # noqa: F401  (registers every product with the engine)
from payout_core.engine import rules
from payout_core.engine.calculate import OUTCOMES
from payout_core.engine.products import FACTS, MINOR_UNITS_PER_UNIT, ProductHandler, handler_for

CHUNK_ROWS = 1_000_000

# SPEC §4 outcomes and the share of MIS rows generated for each, in percent.
OUTCOME_SHARES_PERCENT = {
    "paid": 85,
    "duplicate": 3,
    "invalid": 3,
    "not_shiftpay_lead": 3,
    "already_paid": 3,
    "not_payable": 2,
    "no_active_rule": 1,
}

LEAD_ID_PREFIX = "AT-"
LEAD_ID_DIGITS = 5
BASE36_ALPHABET = string.digits + string.ascii_uppercase
LEAD_ID_SPACE = 36**LEAD_ID_DIGITS  # distinct LeadIds available: 60,466,176
# Spreads consecutive lead numbers over the id space; coprime with 36 so the map is a bijection.
LEAD_ID_MULTIPLIER = 16_777_259
LEADS_PER_SP = 40
MEDIUMS = ("Medium_A", "Medium_B")
YEAR = 2023
RULE_MONTH = 10  # October 2023 has rules; paid rows fall in it
NO_RULE_MONTH = 9  # September 2023 has none: the no_active_rule rows fall in it
FIRST_WINDOW_LAST_DAY = 15

_U64_MASK = 2**64 - 1
# Null, not "": Polars writes a null as an empty cell but quotes an empty string.
_BLANK = pl.lit(None, dtype=pl.String)


@dataclass(frozen=True)
class RuleRow:
    """One rule of the workload: its window (days of RULE_MONTH) and its parameters by
    rules-file header (the product handler says which; others stay blank)."""

    medium_type: str
    start_day: int
    end_day: int
    parameters: dict[str, str]


@dataclass(frozen=True)
class ProductLayout:
    """How the generator makes a product's rows. What the product is (MIS columns, SubStatus,
    rule parameters, how KPIs follow from a rule) comes from its handler."""

    product_type: str
    source_type: str
    tracking_prefix: str
    amount_range: tuple[int, int]  # whole units, inclusive
    rules: tuple[RuleRow, ...]

    @property
    def handler(self) -> ProductHandler:
        handler = handler_for(self.product_type)
        if handler is None:
            raise ValueError(f"no product handler for {self.product_type!r}")
        return handler

    @property
    def sub_status(self) -> str:
        return self.handler.success_sub_status

    @property
    def date_column(self) -> str:
        return self.handler.event_date_column

    @property
    def amount_column(self) -> str:
        return self.handler.amount_column

    @property
    def file_stem(self) -> str:
        return "mis_" + self.product_type.lower().replace(" ", "_")


def _savings_rule(medium: str, start: int, end: int, *amounts: int) -> RuleRow:
    headers = ("KPI1PayinAmount", "KPI1PayoutAmount", "MinInvestedAmountBound",
               "KPI2PayinAmount", "KPI2PayoutAmount")  # fmt: skip
    return RuleRow(medium, start, end, dict(zip(headers, map(str, amounts), strict=True)))


def _loan_rule(medium: str, start: int, end: int, payin: str, payout: str) -> RuleRow:
    return RuleRow(medium, start, end,
                   {"KPI1PayinPercentage": payin, "KPI1PayoutPercentage": payout})  # fmt: skip


_F, _L = FIRST_WINDOW_LAST_DAY, 31
PRODUCTS = {
    "Savings Account": ProductLayout(
        "Savings Account", "Bank_A", "KYC_new_", (500, 15_000),  # invested 500 .. 15,000
        rules=(
            _savings_rule("Medium_A", 1, _F, 1500, 1000, 2000, 1000, 500),
            _savings_rule("Medium_A", _F + 1, _L, 1600, 1100, 2500, 1200, 600),
            _savings_rule("Medium_B", 1, _F, 1400, 900, 3000, 800, 400),
            _savings_rule("Medium_B", _F + 1, _L, 1450, 950, 3000, 900, 450),
        ),
    ),
    "Personal Loan": ProductLayout(
        "Personal Loan", "Bank_B", "KYC_new_", (10_000, 1_000_000),  # disbursed
        rules=(
            _loan_rule("Medium_A", 1, _F, "2.5", "1"),
            _loan_rule("Medium_A", _F + 1, _L, "3", "1.25"),
            _loan_rule("Medium_B", 1, _F, "2", "0.8"),
            _loan_rule("Medium_B", _F + 1, _L, "2.25", "1"),
        ),
    ),
}  # fmt: skip

LEADS_COLUMNS = ("LeadCreatedAt", "SPId", "LeadId", "SourceType", "MediumType", "ProductType",
                 "Status", "SubStatus")  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """How many rows of each outcome, and where each class sits among logical rows.

    Logical rows are ordered paid, already_paid, not_payable, no_active_rule (the classes
    that name a lead of their own, whose lead number equals the logical row number), then
    duplicate, not_shiftpay_lead, invalid. File positions are a permutation of them.
    """

    rows: int
    leads: int
    counts: dict[str, int]
    seed: int

    @property
    def lead_rows(self) -> int:
        return sum(self.counts[name] for name in
                   ("paid", "already_paid", "not_payable", "no_active_rule"))  # fmt: skip

    def start(self, outcome: str) -> int:
        order = ("paid", "already_paid", "not_payable", "no_active_rule", "duplicate",
                 "not_shiftpay_lead", "invalid")  # fmt: skip
        return sum(self.counts[name] for name in order[: order.index(outcome)])


def plan_outcomes(rows: int, leads: int, seed: int) -> tuple[Plan, list[str]]:
    """Counts per outcome. Returns notes when the leads are too few for the usual mix."""
    notes: list[str] = []
    counts = {name: rows * share // 100 for name, share in OUTCOME_SHARES_PERCENT.items()}
    counts["paid"] = rows - sum(v for k, v in counts.items() if k != "paid")
    others_needing_leads = counts["already_paid"] + counts["not_payable"] + counts["no_active_rule"]
    if others_needing_leads > leads:
        raise ValueError(f"--leads {leads} is too small for {rows} rows: need at least "
                         f"{others_needing_leads} leads")  # fmt: skip
    if counts["paid"] + others_needing_leads > leads:
        # Each paid row needs a lead of its own; the rows no lead is left for are rows for
        # someone else's customers, as banks do send.
        surplus = counts["paid"] + others_needing_leads - leads
        counts["paid"] -= surplus
        counts["not_shiftpay_lead"] += surplus
        notes.append(f"{leads} leads cannot cover {rows} rows at the usual"
                     f" mix: {surplus} rows moved from paid to not_shiftpay_lead")  # fmt: skip
    if counts["paid"] == 0 and counts["duplicate"]:
        counts["not_shiftpay_lead"] += counts["duplicate"]
        counts["duplicate"] = 0
    unknown_ids = counts["not_shiftpay_lead"] + counts["invalid"]
    if leads + unknown_ids > LEAD_ID_SPACE:
        raise ValueError(f"at most {LEAD_ID_SPACE:,} distinct LeadIds exist; "
                         f"asked for {leads + unknown_ids:,}")  # fmt: skip
    return Plan(rows=rows, leads=leads, counts=counts, seed=seed), notes


# --- Expressions ---------------------------------------------------------------------------


def _u64(value: int) -> pl.Expr:
    return pl.lit(value & _U64_MASK, dtype=pl.UInt64)


def mix64(x: pl.Expr) -> pl.Expr:
    """splitmix64's finaliser: a well-spread 64-bit hash, stable across Polars versions
    (unlike `Expr.hash`). UInt64 multiplication wraps, which is what the algorithm wants."""
    z = x.cast(pl.UInt64) + _u64(0x9E3779B97F4A7C15)
    z = (z ^ (z // _u64(2**30))) * _u64(0xBF58476D1CE4E5B9)
    z = (z ^ (z // _u64(2**27))) * _u64(0x94D049BB133111EB)
    return z ^ (z // _u64(2**31))


def _bits(hashed: pl.Expr, shift: int, modulus: int) -> pl.Expr:
    """An integer in [0, modulus) from the hash bits above `shift`, as Int64."""
    return ((hashed // _u64(2**shift)) % _u64(modulus)).cast(pl.Int64)


_PAIRS = pl.Series([a + b for a in BASE36_ALPHABET for b in BASE36_ALPHABET])
_SINGLES = pl.Series(list(BASE36_ALPHABET))


def lead_id(lead_number: pl.Expr, seed: int) -> pl.Expr:
    """`AT-` + 5 base-36 characters; distinct lead numbers give distinct LeadIds."""
    offset = (seed * 7_919) % LEAD_ID_SPACE
    value = (lead_number * LEAD_ID_MULTIPLIER + offset) % LEAD_ID_SPACE
    return pl.concat_str(
        pl.lit(LEAD_ID_PREFIX),
        pl.lit(_PAIRS).gather(value // 36**3),
        pl.lit(_PAIRS).gather((value // 36) % 36**2),
        pl.lit(_SINGLES).gather(value % 36),
    )


def _lead_hash(lead_number: pl.Expr, seed: int) -> pl.Expr:
    return mix64(lead_number.cast(pl.UInt64) ^ _u64(mix_seed(seed)))


def mix_seed(seed: int) -> int:
    """Python twin of mix64, to derive per-seed constants."""
    z = (seed + 0x9E3779B97F4A7C15) & _U64_MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64_MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64_MASK
    return z ^ (z >> 31)


def _lead_medium_is_b(hashed: pl.Expr) -> pl.Expr:
    return (hashed % _u64(2)) == _u64(1)


def _medium_name(is_b: pl.Expr) -> pl.Expr:
    return pl.when(is_b).then(pl.lit(MEDIUMS[1])).otherwise(pl.lit(MEDIUMS[0]))


def _permutation_multiplier(rows: int) -> int:
    """A multiplier coprime with `rows` near rows/φ: positions -> logical rows is then a
    bijection that spreads every outcome class evenly through the file."""
    multiplier = max(1, int(rows * 0.6180339887))
    while math.gcd(multiplier, rows) != 1:
        multiplier += 1
    return multiplier


# --- MIS -----------------------------------------------------------------------------------


def _mis_chunk(plan: Plan, layout: ProductLayout, first: int, stop: int) -> pl.DataFrame:
    counts, seed = plan.counts, plan.seed
    position = pl.int_range(first, stop, dtype=pl.Int64)
    logical = (position * _permutation_multiplier(plan.rows) + seed) % plan.rows
    frame = pl.select(k=logical).lazy()

    k = pl.col("k")
    duplicate_start, unknown_start = plan.start("duplicate"), plan.start("not_shiftpay_lead")
    not_payable_start = plan.start("not_payable")
    # Which lead the row names: its own (lead classes), a paid row's (duplicate), or a
    # number beyond the leads table (not_shiftpay_lead, invalid).
    duplicate_of = (mix64(k ^ _u64(mix_seed(seed + 1))) % _u64(max(1, counts["paid"]))).cast(
        pl.Int64
    )
    lead_number = (
        pl.when(k < duplicate_start).then(k)
        .when(k < unknown_start).then(duplicate_of)
        .otherwise(plan.leads + (k - unknown_start))
    )  # fmt: skip
    frame = frame.with_columns(lead_number=lead_number)
    frame = frame.with_columns(h=_lead_hash(pl.col("lead_number"), seed))
    h = pl.col("h")

    is_no_rule = (k >= plan.start("no_active_rule")) & (k < duplicate_start)
    not_payable_count = counts["not_payable"]
    # The second half of not_payable rows: the MIS names another medium than the lead has
    # (the first half are Rejected leads; see _leads_chunk).
    is_medium_mismatch = (k >= not_payable_start + not_payable_count // 2) & (
        k < not_payable_start + not_payable_count
    )
    medium_is_b = _lead_medium_is_b(h) ^ is_medium_mismatch
    day = _bits(h, 8, 31) + 1
    month = (
        pl.when(is_no_rule)
        .then(pl.lit(f"{NO_RULE_MONTH:02d}"))
        .otherwise(pl.lit(f"{RULE_MONTH:02d}"))
    )
    day = pl.when(is_no_rule).then(day.clip(upper_bound=30)).otherwise(day)
    date_text = pl.format("{} {} {}", day, month, pl.lit(str(YEAR)))
    amount = _amount(layout, h)

    invalid_kind = (k - plan.start("invalid")) % 3
    is_invalid = k >= plan.start("invalid")
    tracking_id = pl.concat_str(pl.lit(layout.tracking_prefix), lead_id(pl.col("lead_number"),
                                                                        seed))  # fmt: skip
    columns = {
        "SourceType": pl.lit(layout.source_type),
        "MediumType": _medium_name(medium_is_b),
        "ProductType": pl.lit(layout.product_type),
        "TrackingId": pl.when(is_invalid & (invalid_kind == 0)).then(_BLANK)
        .otherwise(tracking_id),
        layout.date_column: pl.when(is_invalid & (invalid_kind == 1)).then(pl.lit("31 02 2023"))
        .otherwise(date_text),
        layout.amount_column: pl.when(is_invalid & (invalid_kind == 2)).then(pl.lit("n/a"))
        .otherwise(amount.cast(pl.String)),
    }  # fmt: skip
    for offset, name in enumerate(layout.handler.informational_columns):
        # Informational amounts (e.g. ApprovedAmount): never read for money, only present.
        columns[name] = (amount + _bits(h, 40 + 6 * offset, 20) * 500).cast(pl.String)
    frame = frame.with_columns(
        **rule_parameter_columns(layout, day, medium_is_b), **fact_columns(layout, amount)
    )
    paid_payin, paid_payout = paid_amounts_minor(layout)
    return frame.select(
        **columns,
        _paid_payin=pl.when(k < counts["paid"]).then(paid_payin).otherwise(0),
        _paid_payout=pl.when(k < counts["paid"]).then(paid_payout).otherwise(0),
    ).collect()


def _amount(layout: ProductLayout, hashed: pl.Expr) -> pl.Expr:
    low, high = layout.amount_range
    return low + _bits(hashed, 16, high - low + 1)


def rule_parameter_columns(
    layout: ProductLayout, day: pl.Expr, medium_is_b: pl.Expr
) -> dict[str, pl.Expr]:
    """The parameters of the rule a row falls in, as the calculation names them (integer
    units), so the product handler's KPI expressions can be evaluated on the row."""
    columns: dict[str, pl.Expr] = {}
    for parameter in layout.handler.rule_parameters:
        value: pl.Expr = pl.lit(0, dtype=pl.Int64)
        for rule in layout.rules:
            applies = (
                (medium_is_b == (rule.medium_type == MEDIUMS[1]))
                & (day >= rule.start_day) & (day <= rule.end_day)
            )  # fmt: skip
            text = rule.parameters.get(parameter.header) or "0"
            scaled = int(Decimal(text) * parameter.kind.scale)
            value = pl.when(applies).then(pl.lit(scaled, dtype=pl.Int64)).otherwise(value)
        columns[parameter.frame_column] = value
    return columns


def paid_amounts_minor(layout: ProductLayout) -> tuple[pl.Expr, pl.Expr]:
    """SPEC §4 payin and payout, in minor units, of a row whose rule's parameters and facts
    are columns (`rule_parameter_columns`, `fact_columns`): the handler's KPIs, summed over
    those earned. Only used for the expected totals."""
    payin: pl.Expr = pl.lit(0, dtype=pl.Int64)
    payout: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for kpi in layout.handler.kpis:
        earned = kpi.qualifies(FACTS)
        payin = payin + pl.when(earned).then(kpi.payin(FACTS)).otherwise(0)
        payout = payout + pl.when(earned).then(kpi.payout(FACTS)).otherwise(0)
    return payin, payout


def fact_columns(layout: ProductLayout, amount: pl.Expr) -> dict[str, pl.Expr]:
    """The row's facts as the KPIs read them: the generated amount is the product's amount
    (the generator makes products that read one amount)."""
    fact = layout.handler.amount_fact
    if fact is None or len(layout.handler.facts) != 1:
        raise ValueError(f"the generator makes products with one amount, not {layout.product_type}")
    return {fact.frame_column: (amount * MINOR_UNITS_PER_UNIT).cast(pl.Int64)}


# --- Leads ---------------------------------------------------------------------------------


def _leads_chunk(plan: Plan, layout: ProductLayout, first: int, stop: int) -> pl.DataFrame:
    seed, counts = plan.seed, plan.counts
    i = pl.col("i")
    h = _lead_hash(i, seed)
    already_paid_start = plan.start("already_paid")
    rejected_start = plan.start("not_payable")
    rejected_stop = rejected_start + counts["not_payable"] // 2
    is_success = (i >= already_paid_start) & (i < rejected_start)
    is_rejected = (i >= rejected_start) & (i < rejected_stop)
    status = (
        pl.when(is_success).then(pl.lit("Success"))
        .when(is_rejected).then(pl.lit("Rejected"))
        .otherwise(pl.lit("Pending"))
    )  # fmt: skip
    sub_status = (
        pl.when(is_success).then(pl.lit(layout.sub_status))
        .when(is_rejected).then(pl.lit("KYC Rejected"))
        .otherwise(_BLANK)
    )  # fmt: skip
    created_at = pl.format(
        "{}-08-{} {}:{}:{}",
        pl.lit(str(YEAR)),
        (_bits(h, 20, 28) + 1).cast(pl.String).str.zfill(2),
        _bits(h, 28, 24).cast(pl.String).str.zfill(2),
        _bits(h, 34, 60).cast(pl.String).str.zfill(2),
        _bits(h, 40, 60).cast(pl.String).str.zfill(2),
    )
    sp_count = max(1, plan.leads // LEADS_PER_SP)
    sp_id = pl.concat_str(pl.lit("SP"), (_bits(h, 46, sp_count) + 1).cast(pl.String).str.zfill(6))
    return (
        pl.select(i=pl.int_range(first, stop, dtype=pl.Int64))
        .lazy()
        .select(
            LeadCreatedAt=created_at,
            SPId=sp_id,
            LeadId=lead_id(i, seed),
            SourceType=pl.lit(layout.source_type),
            MediumType=_medium_name(_lead_medium_is_b(h)),
            ProductType=pl.lit(layout.product_type),
            Status=status,
            SubStatus=sub_status,
        )
        .collect()
    )


# --- Files ---------------------------------------------------------------------------------


def _date_text(day: int, month: int) -> str:
    return f"{day} {month:02d} {YEAR}"


def write_rules(path: Path, layout: ProductLayout) -> int:
    """The rules file, with every product's parameter columns (rules.rule_columns) and this
    product's values in the ones its handler declares."""
    header = list(rules.rule_columns())
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for rule in layout.rules:
            cells = {
                "SourceType": layout.source_type,
                "MediumType": rule.medium_type,
                "ProductType": layout.product_type,
                "KPIStartDate": _date_text(rule.start_day, RULE_MONTH),
                "KPIEndDate": _date_text(rule.end_day, RULE_MONTH),
                **rule.parameters,
                "SuccessCriteria": f"Synthetic rule for {rule.medium_type}.\n"
                + "; ".join(f"{kpi.name}: {kpi.earned_when}" for kpi in layout.handler.kpis),
            }
            writer.writerow([cells.get(column, "") for column in header])
    return len(layout.rules)


def _chunks(total_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    return [(first, min(first + chunk_rows, total_rows))
            for first in range(0, total_rows, chunk_rows)]  # fmt: skip


def write_leads(path: Path, plan: Plan, layout: ProductLayout, chunk_rows: int) -> int:
    with path.open("wb") as handle:
        if plan.leads == 0:
            handle.write((",".join(LEADS_COLUMNS) + "\n").encode())
        for index, (first, stop) in enumerate(_chunks(plan.leads, chunk_rows)):
            _leads_chunk(plan, layout, first, stop).write_csv(handle, include_header=index == 0)
    return plan.leads


def write_mis(
    path: Path, plan: Plan, layout: ProductLayout, chunk_rows: int
) -> tuple[Decimal, Decimal]:
    """Writes the MIS file; returns the expected (total payin, total payout), exact."""
    payin_total = payout_total = 0
    with path.open("wb") as handle:
        for index, (first, stop) in enumerate(_chunks(plan.rows, chunk_rows)):
            chunk = _mis_chunk(plan, layout, first, stop)
            payin_total += int(chunk["_paid_payin"].sum())  # minor units
            payout_total += int(chunk["_paid_payout"].sum())
            chunk.drop("_paid_payin", "_paid_payout").write_csv(handle, include_header=index == 0)
    return (Decimal(payin_total) / MINOR_UNITS_PER_UNIT,
            Decimal(payout_total) / MINOR_UNITS_PER_UNIT)  # fmt: skip


@dataclass(frozen=True)
class GeneratedWorkload:
    leads_path: Path
    rules_path: Path
    mis_path: Path
    expected_path: Path
    plan: Plan
    total_payin: Decimal
    total_payout: Decimal


def generate(
    out_dir: Path,
    rows: int,
    leads: int,
    product_type: str = "Savings Account",
    seed: int = 1,
    chunk_rows: int = CHUNK_ROWS,
) -> GeneratedWorkload:
    """Write a workload into `out_dir` (created if missing) and describe it."""
    if rows < 0 or leads < 0:
        raise ValueError("--rows and --leads must not be negative")
    layout = PRODUCTS[product_type]
    plan, notes = plan_outcomes(rows, leads, seed)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    leads_path = out_dir / "leads.csv"
    rules_path = out_dir / "payin_payout_rules.csv"
    mis_path = out_dir / f"{layout.file_stem}.csv"
    expected_path = out_dir / "expected_outcomes.json"

    write_rules(rules_path, layout)
    write_leads(leads_path, plan, layout, chunk_rows)
    total_payin, total_payout = write_mis(mis_path, plan, layout, chunk_rows)
    expected = {
        mis_path.name: {
            "rows_read": rows,
            "outcome_counts": {outcome: plan.counts.get(outcome, 0) for outcome in OUTCOMES},
            "total_payin": str(total_payin),
            "total_payout": str(total_payout),
        }
    }
    expected_path.write_text(json.dumps(expected, indent=2) + "\n")
    return GeneratedWorkload(leads_path, rules_path, mis_path, expected_path, plan,
                             total_payin, total_payout)  # fmt: skip


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--rows", type=int, required=True, help="MIS rows to write")
    parser.add_argument("--leads", type=int, required=True, help="leads to write")
    parser.add_argument("--product", choices=sorted(PRODUCTS), default="Savings Account")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                        help="rows generated and written at a time (bounds memory)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started_seconds = time.perf_counter()
    try:
        workload = generate(args.out, args.rows, args.leads, args.product, args.seed,
                            max(1, args.chunk_rows))  # fmt: skip
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed_seconds = time.perf_counter() - started_seconds
    for path in (workload.leads_path, workload.rules_path, workload.mis_path,
                 workload.expected_path):  # fmt: skip
        print(f"wrote {path} ({path.stat().st_size / 1e6:,.1f} MB)")
    counts = ", ".join(f"{name} {count:,}" for name, count in workload.plan.counts.items())
    print(f"{workload.plan.rows:,} MIS rows ({counts}); {workload.plan.leads:,} leads")
    print(f"expected total payin {workload.total_payin:,}, total payout "
          f"{workload.total_payout:,}; {elapsed_seconds:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
