"""Credit Card, the three-KPI product (SPEC §3.1, §4.1), on real PostgreSQL: the sample
file pays each milestone a row states, and the later file pays the milestones reached
since, once, and a lead first seen then in full."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from payout_core.flows import mis_processing
from payout_core.flows.unit_of_work import Context
from tests.integration.sample_ledger import SAMPLES, query

pytestmark = pytest.mark.integration

FIRST = SAMPLES / "mis" / "bank_c_credit_card_2023-10-03.csv"
LATER = SAMPLES / "mis_later" / "bank_c_credit_card_2023-10-17.csv"
KPI_SUMS = (
    "SELECT lead_id, kpi, payin_amount, payout_amount FROM payout_calculation_kpis"
    " WHERE starts_with(lead_id, 'AT-CC') ORDER BY lead_id, kpi"
)


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {outcome: count for outcome, count in counts.items() if count}


def test_each_milestone_is_paid_once_whichever_file_states_it(
    loaded: str, context: Context
) -> None:
    first = mis_processing.process_mis_file(FIRST, context=context)
    assert nonzero(first.outcome_counts) == {
        "invalid": 3, "duplicate": 1, "not_shiftpay_lead": 1, "already_paid": 1,
        "not_payable": 2, "no_active_rule": 1, "paid": 4,
    }  # fmt: skip
    assert (first.total_payin, first.total_payout) == (D(4600), D(2700))

    later = mis_processing.process_mis_file(LATER, context=context)
    assert nonzero(later.outcome_counts) == {"kpi_earned": 2, "already_paid": 1, "paid": 2}
    assert (later.total_payin, later.total_payout) == (D(4000), D(2400))
    # Processing the later file again pays nothing more.
    again = mis_processing.process_mis_file(LATER, context=context)
    assert (again.total_payin, again.total_payout) == (D(0), D(0))

    assert query(loaded, KPI_SUMS) == [
        ("AT-CC001", "KPI1", D(700), D(400)),
        ("AT-CC001", "KPI2", D(500), D(300)),
        ("AT-CC001", "KPI3", D(800), D(500)),
        ("AT-CC002", "KPI1", D(700), D(400)),
        ("AT-CC002", "KPI2", D(500), D(300)),
        ("AT-CC002", "KPI3", D(800), D(500)),
        ("AT-CC003", "KPI1", D(700), D(400)),
        ("AT-CC003", "KPI2", D(500), D(300)),
        ("AT-CC004", "KPI1", D(700), D(400)),
        ("AT-CC004", "KPI2", D(500), D(300)),  # FirstSpendAmount 4000 < 5000: no KPI3
        ("AT-CC005", "KPI1", D(700), D(400)),
        ("AT-CC005", "KPI3", D(800), D(500)),
        ("AT-CC010", "KPI1", D(700), D(400)),
    ]
    # SPEC §5's final table: KPI1 and KPI2 columns, totals over all three KPIs.
    assert query(
        loaded,
        "SELECT kpi1_payin_amount, kpi2_payin_amount, total_payin, total_payout, sub_status"
        " FROM payout_calculations WHERE lead_id = 'AT-CC002'",
    ) == [(D(700), D(500), D(2000), D(1200), "Card Issued")]
    assert query(
        loaded,
        "SELECT lead_id, status, sub_status FROM leads WHERE lead_id IN ('AT-CC005', 'AT-CC009')"
        " ORDER BY lead_id",
    ) == [("AT-CC005", "Success", "Card Issued"), ("AT-CC009", "Pending", None)]
