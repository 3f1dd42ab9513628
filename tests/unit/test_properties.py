"""Property tests: for any mix of rows and leads, SPEC §4 accounting holds and amounts are
exact. The expected outcome of each row is computed independently, in plain Python, from
SPEC §4's ordered tests."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from payout_core.engine import calculate, rules
from payout_core.engine.banks import BankProfile
from payout_core.engine.mis import MisLayout, type_rows
from payout_core.engine.products import (
    MINOR_UNITS_PER_UNIT,
    PERCENTAGE_SCALE,
    handler_for,
    percentage_of,
)
from tests.unit.engine_support import RULES_HEADER, SPEC_RULES, spec_rules_frame, with_reasons

SETTINGS = settings(max_examples=100, deadline=None)
PRODUCTS = ("Savings Account", "Personal Loan")
POOL = [f"AT-0000{n}" for n in range(1, 7)]
SPEC_RULE_LIST = rules.parse_rules(SPEC_RULES, "rules.csv")
SPEC_RULE_FRAME = spec_rules_frame()
ONE = Decimal(1)

# Keys by product: index 0 is the key the SPEC rule of that product is for.
KEYS = {
    "Savings Account": [("Bank_A", "Medium_A"), ("Bank_B", "Medium_A"), ("Bank_A", "Medium_B")],
    "Personal Loan": [("Bank_B", "Medium_A"), ("Bank_A", "Medium_A"), ("Bank_B", "Medium_B")],
}
key_choices = st.sampled_from([0] * 8 + [1, 2])


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Usable values about nine times in ten, so every outcome is reached often."""
    return st.one_of(*[good] * 9, bad)


# (text as written, LeadId the text stands for or None when the TrackingId is unusable)
tracking_ids = mostly(
    st.one_of(
        st.sampled_from(POOL).map(lambda lead_id: (f"KYC_new_{lead_id}", lead_id)),
        st.sampled_from(POOL).map(lambda lead_id: (f"  B2_{lead_id} ", lead_id)),
    ),
    st.sampled_from([(None, None), ("", None), ("AT-0001", None), ("   ", None)]),
)
# (text as written, the date it means or None)
event_dates = mostly(
    st.sampled_from(
        [
            ("1 10 2023", dt.date(2023, 10, 1)),
            ("01 10 2023", dt.date(2023, 10, 1)),
            ("2 10 2023", dt.date(2023, 10, 2)),
            ("3 10 2023", dt.date(2023, 10, 3)),
            ("30 09 2023", dt.date(2023, 9, 30)),
            ("4 10 2023", dt.date(2023, 10, 4)),
        ]
    ),
    st.sampled_from(
        [("31 02 2023", None), ("2023-10-02", None), ("", None), (None, None), ("x", None)]
    ),
)
# (text as written, the amount it means or None)
amount_texts = mostly(
    st.one_of(
        st.integers(0, 10**7).map(lambda n: (str(n), Decimal(n))),
        st.decimals(
            min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False
        ).map(lambda d: (format(d, "f"), d)),
        st.sampled_from(
            [
                ("1999.99", Decimal("1999.99")),
                ("2000", Decimal(2000)),
                ("20", Decimal(20)),
                ("43850", Decimal(43850)),
            ]
        ),
    ),
    st.sampled_from(
        [
            ("abc", None),
            ("-5", None),
            ("12.345", None),
            ("1,000", None),
            ("", None),
            (None, None),
            ("1e3", None),
        ]
    ),
)
mis_rows = st.lists(
    st.tuples(tracking_ids, event_dates, amount_texts, key_choices), min_size=1, max_size=30
)
# LeadId -> (status, key choice, same product as the file?)
lead_tables = st.dictionaries(
    st.sampled_from(POOL),
    st.tuples(
        st.sampled_from(["Pending"] * 6 + ["Success", "Rejected"]),
        key_choices,
        st.sampled_from([True] * 9 + [False]),
    ),
    min_size=4,
    max_size=len(POOL),
)


def resolve(rows, table, product: str):
    """Key choices -> (SourceType, MediumType); lead "same product?" -> its ProductType."""
    keys = KEYS[product]
    other = next(name for name in PRODUCTS if name != product)
    concrete_rows = [
        (tracking, date, amount, keys[choice]) for tracking, date, amount, choice in rows
    ]
    concrete_table = {
        lead_id: (status, keys[choice], product if same else other)
        for lead_id, (status, choice, same) in table.items()
    }
    return concrete_rows, concrete_table


def layout_for(product: str) -> MisLayout:
    handler = handler_for(product)
    headers = {column: column for column in handler.required_columns}
    return MisLayout("property.csv", handler, BankProfile(None), headers)


def raw_frame(rows, product: str) -> pl.DataFrame:
    handler = handler_for(product)
    return pl.DataFrame(
        {
            "row_number": list(range(1, len(rows) + 1)),
            "SourceType": [keys[0] for _, _, _, keys in rows],
            "MediumType": [keys[1] for _, _, _, keys in rows],
            "ProductType": [product] * len(rows),
            "TrackingId": [tracking[0] for tracking, _, _, _ in rows],
            handler.event_date_column: [date[0] for _, date, _, _ in rows],
            handler.amount_column: [amount[0] for _, _, amount, _ in rows],
        },
        schema_overrides={"row_number": pl.Int64},
    ).with_columns(pl.exclude("row_number").cast(pl.String))


def leads_of(table) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (lead_id, f"SP-{lead_id}", keys[0], keys[1], product, status)
            for lead_id, (status, keys, product) in table.items()
        ],
        schema=calculate.LEADS_SCHEMA,
        orient="row",
    )


def classify_in_batches(typed: pl.DataFrame, leads, rules_frame, handler, size: int):
    seen = calculate.SeenLeadIds()
    parts = []
    for start in range(0, typed.height, size):
        batch = typed.slice(start, size)
        parts.append(
            with_reasons(
                calculate.classify(
                    batch, seen=seen, leads=leads, rules=rules_frame, handler=handler
                )
            )
        )
        seen.add(batch["lead_id"])
    return pl.concat(parts)


def expected(rows, table, product: str):
    """SPEC §4 by hand: (outcome, (kpi1 in, kpi1 out, kpi2 in, kpi2 out) or None) per row."""
    seen: set[str] = set()
    results = []
    for (_, lead_id), (_, date), (_, amount), (source, medium) in rows:
        earlier = lead_id in seen
        if lead_id is not None:
            seen.add(lead_id)
        if lead_id is None or date is None or amount is None:
            results.append(("invalid", None))
            continue
        if earlier:
            results.append(("duplicate", None))
            continue
        if lead_id not in table:
            results.append(("not_shiftpay_lead", None))
            continue
        status, lead_keys, lead_product = table[lead_id]
        keys_differ = lead_keys != (source, medium) or lead_product != product
        if status not in ("Pending", "Success") or keys_differ:
            results.append(("not_payable", None))
            continue
        if status == "Success":  # never paid here (no facts): nothing to weigh
            results.append(("already_paid", None))
            continue
        active = [
            rule
            for rule in SPEC_RULE_LIST
            if rule.key == (source, medium, product)
            and rule.kpi_start_date <= date <= rule.kpi_end_date
        ]
        if not active:
            results.append(("no_active_rule", None))
            continue
        (rule,) = active
        if product == "Savings Account":
            kpi2 = amount >= rule.min_invested_amount_bound
            money = (
                rule.kpi1_payin_amount,
                rule.kpi1_payout_amount,
                rule.kpi2_payin_amount if kpi2 else Decimal(0),
                rule.kpi2_payout_amount if kpi2 else Decimal(0),
            )
        else:
            money = (
                half_up(amount * rule.kpi1_payin_percentage / 100),
                half_up(amount * rule.kpi1_payout_percentage / 100),
                Decimal(0),
                Decimal(0),
            )
        results.append(("paid", money))
    return results


def half_up(value: Decimal) -> Decimal:
    return value.quantize(ONE, rounding=ROUND_HALF_UP)


def units(minor: int) -> Decimal:
    return Decimal(minor) / MINOR_UNITS_PER_UNIT


@SETTINGS
@given(
    rows=mis_rows,
    table=lead_tables,
    product=st.sampled_from(PRODUCTS),
    batch_size=st.integers(1, 8),
)
def test_every_row_gets_exactly_the_spec_outcome_and_exact_amounts(
    rows, table, product, batch_size
):
    rows, table = resolve(rows, table, product)
    layout = layout_for(product)
    typed = type_rows(raw_frame(rows, product), layout)
    leads = leads_of(table)
    classified = with_reasons(
        calculate.classify(typed, leads=leads, rules=SPEC_RULE_FRAME, handler=layout.handler)
    ).sort("row_number")

    # one outcome per row, counts add up to the rows read
    assert classified.height == len(rows)
    assert classified["row_number"].to_list() == list(range(1, len(rows) + 1))
    assert classified["outcome"].null_count() == 0
    assert set(classified["outcome"]) <= set(calculate.OUTCOMES)
    counts = calculate.outcome_counts(classified)
    assert sum(counts.values()) == len(rows)

    # each row's outcome and amounts are what SPEC §4 says
    wanted = expected(rows, table, product)
    assert classified["outcome"].to_list() == [outcome for outcome, _ in wanted]
    for row, (outcome, money) in zip(classified.iter_rows(named=True), wanted, strict=True):
        kpis = [row[column] for column in calculate.KPI_COLUMNS]
        totals = (row["total_payin_minor"], row["total_payout_minor"])
        if outcome == "paid":
            assert None not in kpis and None not in totals
            assert all(value >= 0 for value in (*kpis, *totals))
            assert totals == (kpis[0] + kpis[2], kpis[1] + kpis[3])
            assert tuple(units(value) for value in kpis) == money
        else:
            assert kpis == [None] * 4 and totals == (None, None)
            assert row["reason"], row

    # splitting the file into batches changes nothing
    batched = classify_in_batches(typed, leads, SPEC_RULE_FRAME, layout.handler, batch_size)
    columns = [
        "row_number",
        "outcome",
        *calculate.KPI_COLUMNS,
        "total_payin_minor",
        "total_payout_minor",
    ]
    assert batched.select(columns).sort("row_number").equals(classified.select(columns))


amounts = st.decimals(
    min_value=0, max_value=Decimal("9999999999.99"), places=2, allow_nan=False, allow_infinity=False
)
percentages = st.decimals(
    min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False
)


@SETTINGS
@given(amount=amounts, percentage=percentages)
def test_percentage_rounding_is_decimal_round_half_up(amount, percentage):
    minor = int(amount * MINOR_UNITS_PER_UNIT)
    percentage_e4 = int(percentage * PERCENTAGE_SCALE)
    got = pl.select(
        percentage_of(pl.lit(minor, dtype=pl.Int64), pl.lit(percentage_e4, dtype=pl.Int64))
    ).item()
    assert units(got) == half_up(amount * percentage / 100)


@SETTINGS
@given(amount=amounts, payin=percentages, payout=percentages)
def test_loan_amounts_through_rules_and_mis_equal_decimal_round_half_up(amount, payin, payout):
    rule_text = (
        f"{RULES_HEADER}\nBank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,"
        f"{format(payin, 'f')},{format(payout, 'f')},,,,,,x\n"
    )
    rules_frame = rules.rules_frame(rules.parse_rules(rule_text, "rules.csv"))
    rows = [
        (
            ("KYC_new_AT-00001", "AT-00001"),
            ("2 10 2023", None),
            (format(amount, "f"), amount),
            ("Bank_B", "Medium_A"),
        )
    ]
    layout = layout_for("Personal Loan")
    classified = calculate.classify(
        type_rows(raw_frame(rows, "Personal Loan"), layout),
        leads=leads_of({"AT-00001": ("Pending", ("Bank_B", "Medium_A"), "Personal Loan")}),
        rules=rules_frame,
        handler=layout.handler,
    )
    row = classified.row(0, named=True)
    assert row["outcome"] == "paid"
    assert units(row["kpi1_payin_amount_minor"]) == half_up(amount * payin / 100)
    assert units(row["kpi1_payout_amount_minor"]) == half_up(amount * payout / 100)
    assert row["total_payin_minor"] == row["kpi1_payin_amount_minor"]
    assert row["total_payout_minor"] == row["kpi1_payout_amount_minor"]
