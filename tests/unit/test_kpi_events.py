"""KPIs as events, pure (SPEC §4.1–4.3): the worked examples verbatim, KPI2 earned later,
milestones never taken back, corrections both ways with SPEC's rounding, recalculation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import pytest

from payout_core.engine import calculate, kpis, recalculation, rules
from payout_core.engine.holds import HoldLimits
from payout_core.engine.products import handler_for
from tests.unit.engine_support import (
    LOAN,
    LOAN_HEADER,
    RULES_HEADER,
    SAVINGS,
    SAVINGS_HEADER,
    classify_file,
    lead,
    loan_row,
    mis_text,
    savings_row,
    spec_rules_frame,
    write,
)

D = Decimal
NO_LIMITS = HoldLimits()
OCT_2 = dt.date(2023, 10, 2)


def minor(amount: str | None) -> int | None:
    return None if amount is None else int(D(amount) * 100)


def balance(
    payin: str,
    released: str,
    last_sequence: int,
    *,
    pending: str = "0",
    pending_ids: str | None = None,
    rejected: bool = False,
    worth: str | None = None,
) -> dict:
    """Where one KPI of a paid lead stands (kpis.BALANCES_SCHEMA fields): the bank's payin
    of every event, the payout released and waiting, and the worth last recorded (default:
    what stands)."""
    standing = D(released) + D(pending)
    return {
        "payin_total_minor": minor(payin),
        "released_payout_minor": minor(released),
        "pending_payout_minor": minor(pending),
        "pending_event_ids": pending_ids,
        "kpi_rejected": rejected,
        "last_sequence": last_sequence,
        "latest_payout_worth_minor": minor(worth) if worth is not None else minor(str(standing)),
    }


def paid_lead(
    lead_id: str,
    *,
    product: str = SAVINGS,
    basis: str | None = "2616",
    kpi1: tuple[str, str, int] | dict | None = ("1500", "1000", 1),
    kpi2: tuple[str, str, int] | dict | None = None,
    date_of_sale: dt.date = OCT_2,
) -> dict:
    """A lead paid here: its facts and, per KPI, a `balance` or (payin, payout, last
    position), all of it released. The balances ride under "_balances"."""
    source = "Bank_A" if product == SAVINGS else "Bank_B"
    row = dict(zip(calculate.LEADS_SCHEMA, lead(lead_id, "Success", source=source, product=product),
                   strict=True))  # fmt: skip
    row |= {"date_of_sale": date_of_sale, "basis_amount_minor": minor(basis)}
    row["_balances"] = [
        {"lead_id": lead_id, "kpi": name, **(kpi if isinstance(kpi, dict) else balance(*kpi))}
        for name, kpi in (("KPI1", kpi1), ("KPI2", kpi2))
        if kpi
    ]
    return row


@dataclass(frozen=True)
class Known:
    """What the ledger knows of a batch's leads: the leads with facts, and the balances."""

    leads: pl.DataFrame
    balances: pl.DataFrame


def leads_with_facts(*rows: dict) -> Known:
    balances = [stands for row in rows for stands in row.get("_balances", [])]
    return Known(
        pl.DataFrame(
            [{k: v for k, v in row.items() if k != "_balances"} for row in rows],
            schema={**calculate.LEADS_SCHEMA, **kpis.LEAD_FACTS_SCHEMA},
            orient="row",
        ),
        pl.DataFrame(balances, schema=kpis.BALANCES_SCHEMA, orient="row"),
    )


def classify_known(tmp_path, header: str, row: str, known: Known) -> pl.DataFrame:
    return classify_file(
        write(tmp_path, mis_text(header, row)), known.leads, balances=known.balances
    )


def classify_one(tmp_path, header: str, row: str, known: Known) -> dict:
    [record] = classify_known(tmp_path, header, row, known).iter_rows(named=True)
    return record


def event_tuples(made: pl.DataFrame) -> list[tuple]:
    return [
        (e["kpi"], e["kind"], e["outcome"], e["kpi_sequence"], D(e["payin_minor"]) / 100,
         D(e["payout_minor"]) / 100)
        for e in made.iter_rows(named=True)
    ]  # fmt: skip


def made_event_rows(
    tmp_path, header: str, row: str, known: Known, limits: HoldLimits = NO_LIMITS
) -> pl.DataFrame:
    handler = handler_for(SAVINGS if header == SAVINGS_HEADER else LOAN)
    return kpis.events(classify_known(tmp_path, header, row, known), handler, limits)


def made_events(tmp_path, header: str, row: str, known: Known) -> list[tuple]:
    return event_tuples(made_event_rows(tmp_path, header, row, known))


# --- SPEC §4.3 worked examples, verbatim --------------------------------------------------


@pytest.mark.parametrize(
    ("invested", "payin", "payout", "kpis_earned"),
    [("2616", D(2500), D(1500), ["KPI1", "KPI2"]), ("1299", D(1500), D(1000), ["KPI1"])],
)
def test_opened_2_10_2023_is_paid_with_a_kpi_event_per_kpi_earned(
    tmp_path, invested, payin, payout, kpis_earned
):
    leads = leads_with_facts({**dict(zip(calculate.LEADS_SCHEMA, lead("AT-91961"), strict=True))})
    row = savings_row("AT-91961", "2 10 2023", invested)
    record = classify_one(tmp_path, SAVINGS_HEADER, row, leads)
    assert record["outcome"] == "paid"
    assert (D(record["net_payin_minor"]) / 100, D(record["net_payout_minor"]) / 100) == (
        payin,
        payout,
    )
    events = made_events(tmp_path, SAVINGS_HEADER, row, leads)
    assert [kpi for kpi, *_ in events] == kpis_earned
    assert {kind for _, kind, *_ in events} == {"earned"}


def test_the_same_lead_with_2400_later_earns_kpi2(tmp_path):
    leads = leads_with_facts(paid_lead("AT-91961", basis="1299"))
    row = savings_row("AT-91961", "2 10 2023", "2400")
    record = classify_one(tmp_path, SAVINGS_HEADER, row, leads)
    assert record["outcome"] == "kpi_earned"
    assert made_events(tmp_path, SAVINGS_HEADER, row, leads) == [
        ("KPI2", "earned", "kpi_earned", 1, D(1000), D(500))
    ]


def test_later_again_with_100_is_already_paid_a_milestone_is_never_taken_back(tmp_path):
    leads = leads_with_facts(paid_lead("AT-91961", basis="2400", kpi2=("1000", "500", 1)))
    row = savings_row("AT-91961", "2 10 2023", "100")
    record = classify_one(tmp_path, SAVINGS_HEADER, row, leads)
    assert record["outcome"] == "already_paid"
    assert made_events(tmp_path, SAVINGS_HEADER, row, leads) == []
    assert record["net_payout_minor"] == 0


def test_opened_29_09_2023_has_no_active_rule(tmp_path):
    leads = leads_with_facts(dict(zip(calculate.LEADS_SCHEMA, lead("AT-91961"), strict=True)))
    record = classify_one(tmp_path, SAVINGS_HEADER, savings_row("AT-91961", "29 09 2023"), leads)
    assert record["outcome"] == "no_active_rule"


def test_loan_43850_is_paid_1096_and_439_then_40000_is_adjusted_minus_96_and_39(tmp_path):
    pending = dict(zip(calculate.LEADS_SCHEMA, lead("AT-YXXWY", source="Bank_B", product=LOAN),
                       strict=True))  # fmt: skip
    paid = classify_one(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "43850"),
                        leads_with_facts(pending))  # fmt: skip
    assert paid["outcome"] == "paid"
    assert (paid["kpi1_payin_amount_minor"], paid["kpi1_payout_amount_minor"]) == (109_600, 43_900)

    after = leads_with_facts(
        paid_lead("AT-YXXWY", product=LOAN, basis="43850", kpi1=("1096", "439", 1))
    )
    row = loan_row("AT-YXXWY", "40000")
    assert classify_one(tmp_path, LOAN_HEADER, row, after)["outcome"] == "adjusted"
    assert made_events(tmp_path, LOAN_HEADER, row, after) == [
        ("KPI1", "adjustment", "adjusted", 2, D(-96), D(-39))
    ]


@pytest.mark.parametrize(
    ("disbursed", "payin", "payout"),
    [
        # 2.5 % of 43870 = 1096.75 -> 1097 (+1); 1 % = 438.70 -> 439 (0)
        ("43870", D(1), D(0)),
        # 2.5 % of 43830 = 1095.75 -> 1096 (0); 1 % = 438.30 -> 438 (-1)
        ("43830", D(0), D(-1)),
        # 2.5 % of 43820 = 1095.50 -> 1096: a half rounds away from zero (0); 438.20 -> 438
        ("43820", D(0), D(-1)),
        # 2.5 % of 40020 = 1000.50 -> 1001 (-95); 1 % = 400.20 -> 400 (-39)
        ("40020", D(-95), D(-39)),
    ],
)
def test_a_corrected_disbursed_amount_pays_or_takes_back_the_rounded_difference(
    tmp_path, disbursed, payin, payout
):
    after = leads_with_facts(
        paid_lead("AT-YXXWY", product=LOAN, basis="43850", kpi1=("1096", "439", 1))
    )
    events = made_events(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", disbursed), after)
    expected = [] if (payin, payout) == (0, 0) else [("KPI1", "adjustment", "adjusted", 2,
                                                       payin, payout)]  # fmt: skip
    assert events == expected


def test_a_correction_back_to_what_was_paid_after_an_adjustment_is_nothing_new(tmp_path):
    after = leads_with_facts(
        paid_lead("AT-YXXWY", product=LOAN, basis="40000", kpi1=("1000", "400", 2))
    )
    record = classify_one(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "40000"), after)
    assert record["outcome"] == "already_paid"


def test_a_success_lead_never_paid_here_is_already_paid(tmp_path):
    before_system = leads_with_facts(
        dict(zip(calculate.LEADS_SCHEMA, lead("AT-91961", "Success"), strict=True))
    )
    record = classify_one(
        tmp_path, SAVINGS_HEADER, savings_row("AT-91961", invested="2616"), before_system
    )
    assert record["outcome"] == "already_paid"
    assert "before it reached this ledger" in record["reason"]


def test_a_redelivered_file_changes_no_paid_lead(tmp_path):
    known = leads_with_facts(paid_lead("AT-YXXWY", product=LOAN, kpi1=("1000", "400", 2)))
    path = write(tmp_path, mis_text(LOAN_HEADER, loan_row("AT-YXXWY", "43850")))
    layout_handler = handler_for(LOAN)
    from payout_core.engine import mis
    from tests.unit.engine_support import STANDARD_BANKS

    layout = mis.inspect_layout(path, path.name, STANDARD_BANKS)
    [batch] = list(mis.read_batches(path, layout, 100))
    classified = calculate.classify(
        batch,
        leads=known.leads,
        balances=known.balances,
        rules=spec_rules_frame(),
        handler=layout_handler,
        redelivery_of_run=7,
    )
    assert classified["outcome"].to_list() == ["already_paid"]
    reason = calculate.rejected_rows(classified)["reason"][0]
    assert "MIS run 7" in reason


# --- recalculation ------------------------------------------------------------------------

CORRECTED_RULES = f"""{RULES_HEADER}
Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1700,1100,2000,0,0,corrected
Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,3,1,,,,,,corrected
"""


def reweigh(rules_frame: pl.DataFrame, product: str, *rows: dict, limits=NO_LIMITS):
    """engine/recalculation.reweigh over `paid_lead` rows."""
    known = leads_with_facts(*rows)
    paid = known.leads.select(
        "lead_id",
        "sp_id",
        pl.col("lead_source_type").alias("source_type"),
        pl.col("lead_medium_type").alias("medium_type"),
        pl.col("lead_product_type").alias("product_type"),
        *kpis.LEAD_FACTS_SCHEMA,
    )
    return recalculation.reweigh(paid, known.balances, rules_frame, handler_for(product), limits)


def test_recalculation_revalues_earned_milestones_and_recomputes_correctable_kpis():
    corrected = rules.rules_frame(rules.parse_rules(CORRECTED_RULES, "rules.csv"))
    made = reweigh(
        corrected,
        SAVINGS,
        paid_lead("AT-00001", basis="100", kpi2=("1000", "500", 1)),  # both earned
        paid_lead("AT-00002", basis="1299"),  # KPI2 never earned: 1299 stays below the bound
    ).events
    assert sorted(
        (e["lead_id"], e["kpi"], e["kpi_sequence"], e["payin_minor"], e["payout_minor"])
        for e in made.iter_rows(named=True)
    ) == [
        ("AT-00001", "KPI1", 2, 20_000, 10_000),
        ("AT-00001", "KPI2", 2, -100_000, -50_000),  # a rule correction does change worth
        ("AT-00002", "KPI1", 2, 20_000, 10_000),
    ]
    loans = reweigh(
        corrected, LOAN, paid_lead("AT-00003", product=LOAN, basis="43850", kpi1=("1096", "439", 1))
    )
    [loan] = loans.events.iter_rows(named=True)
    assert (loan["payin_minor"], loan["payout_minor"]) == (22_000, 0)  # 1315.5 -> 1316


def test_recalculation_under_unchanged_rules_finds_nothing_and_skips_unknown_basis():
    unchanged = spec_rules_frame()
    leads = (
        paid_lead("AT-00001", basis="2616", kpi2=("1000", "500", 1)),
        paid_lead("AT-00003", product=LOAN, basis="43850", kpi1=("1096", "439", 1)),
        paid_lead("AT-00004", product=LOAN, basis=None, kpi1=("5", "5", 1)),
    )
    assert reweigh(unchanged, SAVINGS, *leads).events.is_empty()
    loans = reweigh(unchanged, LOAN, *leads)
    assert loans.events.is_empty()
    assert loans.unpriced["lead_id"].to_list() == ["AT-00004"]
    assert "DisbursedAmount is unknown" in loans.unpriced["reason"][0]


# --- SPEC §8: corrections meeting held or rejected events ---------------------------------


def test_a_correction_while_a_clawback_waits_is_measured_from_it_and_held_with_it(tmp_path):
    # 439 released, then -39 held (worth 400); the bank now says 43850 again.
    waiting = balance("1000", "439", 2, pending="-39", pending_ids="7", worth="400")
    known = leads_with_facts(paid_lead("AT-YXXWY", product=LOAN, basis="40000", kpi1=waiting))
    [event] = made_event_rows(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "43850"), known).rows(
        named=True
    )
    assert (event["payin_minor"], event["payout_minor"], event["status"]) == (9_600, 3_900, "held")
    assert event["hold_reason"].startswith("decided together with event(s) 7 of KPI1")
    assert (event["payin_worth_minor"], event["payout_worth_minor"]) == (109_600, 43_900)


def test_after_a_waived_clawback_the_same_facts_are_nothing_new_and_more_pays_the_excess(
    tmp_path,
):
    # 439 released; a -39 clawback (worth 400) was rejected: the SP kept 439.
    kept = balance("1000", "439", 2, worth="400")
    known = leads_with_facts(paid_lead("AT-YXXWY", product=LOAN, basis="40000", kpi1=kept))
    assert classify_one(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "40000"), known)[
        "outcome"
    ] == "already_paid"
    assert made_events(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "43850"), known) == [
        ("KPI1", "adjustment", "adjusted", 3, D(96), D(0))  # the bank's payin only
    ]
    assert made_events(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "50000"), known) == [
        ("KPI1", "adjustment", "adjusted", 3, D(250), D(61))  # 500 - 439 already held
    ]


def test_a_rejected_kpi_only_follows_the_banks_payin(tmp_path):
    rejected = balance("1096", "0", 1, rejected=True, worth="439")
    known = leads_with_facts(paid_lead("AT-YXXWY", product=LOAN, basis="43850", kpi1=rejected))
    [event] = made_event_rows(tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "40000"), known).rows(
        named=True
    )
    assert (event["payin_minor"], event["payout_minor"], event["status"]) == (-9_600, 0, "rejected")
    assert "was rejected for this lead" in event["reason"]


def test_a_negative_adjustment_is_held_and_one_over_the_limit_says_both_why(tmp_path):
    known = leads_with_facts(
        paid_lead("AT-YXXWY", product=LOAN, basis="43850", kpi1=("1096", "439", 1))
    )
    [down] = made_event_rows(
        tmp_path, LOAN_HEADER, loan_row("AT-YXXWY", "40000"), known, HoldLimits(D("10"))
    ).rows(named=True)
    assert (down["status"], down["hold_reason"]) == (
        "held",
        "negative adjustment: money taken back from the SP",
    )


def test_recalculation_earns_a_kpi_the_latest_facts_now_qualify_for():
    lowered = f"""{RULES_HEADER}
Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,1500,1000,500,bound lowered
"""
    made = reweigh(
        rules.rules_frame(rules.parse_rules(lowered, "rules.csv")),
        SAVINGS,
        paid_lead("AT-00001", basis="1800"),  # KPI1 only: 1800 was below 2000
        paid_lead("AT-00002", basis="1200"),  # still below 1500
        limits=HoldLimits(D("400")),
    ).events
    [kpi2] = made.rows(named=True)
    assert (kpi2["lead_id"], kpi2["kpi"], kpi2["kind"], kpi2["outcome"]) == (
        "AT-00001",
        "KPI2",
        "earned",
        "kpi_earned",
    )
    assert (kpi2["payin_minor"], kpi2["payout_minor"], kpi2["kpi_sequence"]) == (100_000, 50_000, 1)
    assert kpi2["status"] == "held"  # 500 > 400: the limits apply as to any KPI earned
    assert kpi2["reason"].startswith("KPI2 earned under the rules in force (rule ")
