"""The ledger's rules of money over random sequences (SPEC §8, §9), on real PostgreSQL.

Hypothesis interleaves MIS files (first payments, corrections both ways, deposits that
grow), rules corrections, recalculations, approvals, rejections, remittances and cycle
closes, through the same `payout` commands an operator runs. After every step the ledger
is held against a model written here in plain Python from SPEC's words:

- per lead and KPI, what has been released to the SP (net of clawbacks already asked for)
  never exceeds the larger of its payout worth now and what the SP kept when a clawback
  was waived; once nothing waits and nothing was ever rejected, it is exactly the worth;
- the wallet credits are exactly the released events they carry, SP by SP;
- the payin expected from the bank is the payin worth under its latest facts, whatever is
  held or rejected, and what is outstanding is that minus what the bank remitted;
- the final table's payout is what was released.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from payout_core.settings import get_settings
from tests.integration.terminal import Operator
from tests.support import postgres

pytestmark = pytest.mark.integration

D = Decimal
LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:00:00,SP-A,AT-LOAN1,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-A,AT-LOAN2,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-B,AT-SAVE1,Bank_A,Medium_A,Savings Account,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE2,Bank_A,Medium_A,Savings Account,Pending,
"""
LOANS = ("AT-LOAN1", "AT-LOAN2")
SAVINGS = ("AT-SAVE1", "AT-SAVE2")
BANK = {**dict.fromkeys(LOANS, "Bank_B"), **dict.fromkeys(SAVINGS, "Bank_A")}


@dataclass(frozen=True)
class Rules:
    loan_payin: str = "2.5"
    loan_payout: str = "1"
    savings_kpi1_payout: str = "1000"
    savings_bound: str = "2000"


def whole(amount: Decimal) -> Decimal:
    return amount.quantize(D(1), rounding=ROUND_HALF_UP)


@dataclass
class Kpi:
    """The model of one KPI of one lead: what SPEC says it is worth, to the SP and from
    the bank, and what the SP kept when a clawback was waived."""

    payin_worth: Decimal
    payout_worth: Decimal
    rejected: bool = False
    kept: Decimal = Decimal(0)
    ever_rejected: bool = False


@dataclass
class Model:
    rules: Rules = field(default_factory=Rules)
    amount: dict[str, Decimal] = field(default_factory=dict)  # latest MIS amount of paid leads
    kpis: dict[tuple[str, str], Kpi] = field(default_factory=dict)
    remitted: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def worth(self, lead: str, kpi: str, amount: Decimal) -> tuple[Decimal, Decimal]:
        rules = self.rules
        if lead in LOANS:
            return (whole(amount * D(rules.loan_payin) / 100),
                    whole(amount * D(rules.loan_payout) / 100))  # fmt: skip
        if kpi == "KPI1":
            return D(1500), D(rules.savings_kpi1_payout)
        return D(1000), D(500)

    def payin_worth(self, lead: str) -> Decimal:
        """What the bank owes for the lead under its latest facts."""
        return sum((k.payin_worth for (of, _), k in self.kpis.items() if of == lead), D(0))

    def qualifies(self, lead: str, kpi: str, amount: Decimal) -> bool:
        return kpi == "KPI1" or amount >= D(self.rules.savings_bound)

    def weigh(self, lead: str, amount: Decimal, *, milestones_follow_rules: bool) -> None:
        """A later MIS row (or a recalculation) stating `amount` for a paid lead."""
        for kpi in ("KPI1", "KPI2") if lead in SAVINGS else ("KPI1",):
            state = self.kpis.get((lead, kpi))
            if state is None:
                if self.qualifies(lead, kpi, amount):
                    self.kpis[(lead, kpi)] = Kpi(*self.worth(lead, kpi, amount))
            elif lead in LOANS or milestones_follow_rules:
                state.payin_worth, payout = self.worth(lead, kpi, amount)
                state.payout_worth = D(0) if state.rejected else payout


def mis_amounts(lead: str) -> st.SearchStrategy[str]:
    if lead in LOANS:
        return st.sampled_from(["43850", "40000", "50000", "43870"])
    return st.sampled_from(["1800", "2616", "1200", "2400"])


mis_steps = st.tuples(st.just("mis"), st.sampled_from(LOANS + SAVINGS)).flatmap(
    lambda step: mis_amounts(step[1]).map(lambda amount: (*step, amount))
)
# MIS files and decisions are most of a story: corrections meet holds only when several
# files about the same lead come between two decisions.
steps = st.one_of(
    mis_steps,
    mis_steps,
    mis_steps,
    st.tuples(
        st.just("rules"),
        st.builds(
            Rules,
            loan_payin=st.sampled_from(["2.5", "3"]),
            loan_payout=st.sampled_from(["1", "0.9", "1.2"]),
            savings_kpi1_payout=st.sampled_from(["1000", "1100"]),
            savings_bound=st.sampled_from(["2000", "1500"]),
        ),
    ),
    st.just(("recalculate",)),
    st.tuples(st.sampled_from(["approve", "reject"]), st.integers(0, 5)),
    st.tuples(st.sampled_from(["approve", "reject"]), st.integers(0, 5)),
    st.just(("close",)),
    st.tuples(
        st.just("remit"), st.sampled_from(LOANS + SAVINGS), st.sampled_from(["1", "0.5", "2"])
    ),
    st.tuples(st.just("limit"), st.sampled_from(["", "300"])),
)


class Story:
    """One random sequence, told to a fresh ledger and to the model."""

    def __init__(self, operator: Operator, database_url: str, monkeypatch: pytest.MonkeyPatch):
        self.operator = operator
        self.url = database_url
        self.monkeypatch = monkeypatch
        self.model = Model()
        self.references = 0

    def do(self, step: tuple) -> None:
        getattr(self, f"_{step[0]}")(*step[1:])
        self.check()

    def _mis(self, lead: str, amount: str) -> None:
        send = self.operator.loan if lead in LOANS else self.operator.savings
        result = send(lead, amount)
        if lead not in self.model.amount:
            assert result["outcomes"]["paid"] == 1
        self.model.weigh(lead, D(amount), milestones_follow_rules=False)
        self.model.amount[lead] = D(amount)

    def _rules(self, rules: Rules) -> None:
        self.operator.rules(**rules.__dict__)
        self.model.rules = rules

    def _recalculate(self) -> None:
        self.operator.recalculate(by="Maya Maker")
        for lead, amount in self.model.amount.items():
            self.model.weigh(lead, amount, milestones_follow_rules=True)

    def _approve(self, pick: int) -> None:
        self._decide("approve", pick)

    def _reject(self, pick: int) -> None:
        self._decide("reject", pick)

    def _decide(self, decision: str, pick: int) -> None:
        held = self.operator.held()
        if not held:
            return
        chosen = held[pick % len(held)]
        key = (chosen["lead_id"], chosen["kpi"])
        state = self.model.kpis[key]
        if decision == "approve" and state.rejected:
            self.operator.refused("holds", "approve", str(chosen["event_id"]), "--by", "Chen")
            return
        group = [event for event in held if (event["lead_id"], event["kpi"]) == key]
        released_before = self.released()[key]
        extra = ["--reason", "finance said no"] if decision == "reject" else []
        decided = self.operator.decide(decision, [chosen["event_id"]], "--by", "Chen", *extra)
        assert {d["event_id"] for d in decided} == {event["event_id"] for event in group}
        if decision == "reject":
            state.ever_rejected = True
            if any(event["kind"] == "earned" for event in group):
                state.rejected = True
                state.payout_worth = D(0)
            if any(D(event["payout_amount"]) < 0 for event in group):
                state.kept = max(state.kept, released_before)

    def _close(self) -> None:
        self.operator.close_cycle()

    def _remit(self, lead: str, share: str) -> None:
        self.references += 1
        amount = max(whole(self.model.payin_worth(lead) * D(share)), D(1))
        self.operator.remit(lead, str(amount), f"UTR-{self.references:04d}", bank=BANK[lead])
        self.model.remitted[lead] += amount

    def _limit(self, amount: str) -> None:
        self.monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", amount)
        get_settings.cache_clear()

    # --- what the ledger says ------------------------------------------------------------

    def rows(self, statement: str) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(statement).fetchall()

    def released(self) -> dict[tuple[str, str], Decimal]:
        released: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for lead, kpi, amount in self.rows(
            "SELECT lead_id, kpi, sum(payout_amount) FROM payout_event_states"
            " WHERE effective_status = 'released' GROUP BY 1, 2"
        ):
            released[(lead, kpi)] = amount
        return released

    def check(self) -> None:
        released = self.released()
        exposed = dict(released)
        waiting: set[tuple[str, str]] = set()
        for lead, kpi, amount in self.rows(
            "SELECT lead_id, kpi, payout_amount FROM payout_event_states"
            " WHERE effective_status = 'held'"
        ):
            waiting.add((lead, kpi))
            if amount < 0:
                exposed[(lead, kpi)] = exposed.get((lead, kpi), D(0)) + amount
        for key, state in self.model.kpis.items():
            assert exposed.get(key, D(0)) <= max(state.payout_worth, state.kept), (key, state)
            if key not in waiting and not state.ever_rejected:
                assert released.get(key, D(0)) == state.payout_worth, (key, state)
        self.check_credits()
        self.check_receivables()
        for lead, total_payout in self.rows(
            "SELECT lead_id, total_payout FROM payout_calculations"
        ):
            assert total_payout == released.get((lead, "KPI1"), 0) + released.get((lead, "KPI2"), 0)

    def check_credits(self) -> None:
        credited = dict(
            self.rows(
                "SELECT sp_id, sum(amount) FROM wallet_credits WHERE replaces_credit_id IS NULL"
                " GROUP BY 1"
            )
        )
        in_cycles = dict(
            self.rows(
                "SELECT sp_id, sum(payout_amount) FROM payout_event_states"
                " WHERE cycle_number IS NOT NULL AND effective_status = 'released' GROUP BY 1"
            )
        )
        assert credited == in_cycles

    def check_receivables(self) -> None:
        ledger = {
            lead: (expected, outstanding)
            for lead, expected, outstanding in self.rows(
                "SELECT lead_id, expected_payin, outstanding FROM lead_receivables"
            )
        }
        for lead in self.model.amount:
            expected = self.model.payin_worth(lead)
            assert ledger[lead] == (expected, expected - self.model.remitted[lead]), lead


@pytest.fixture
def fresh_ledgers(postgres_server_url: str, _migrated_template: str):
    """A function giving a new migrated database per example (hypothesis runs many examples
    in one test), dropping each at the end."""
    made: list[str] = []

    def new_ledger() -> str:
        name = f"payout_story_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return postgres.create_database(postgres_server_url, name, template=_migrated_template)

    yield new_ledger
    for name in made:
        postgres.drop_database(postgres_server_url, name)


@settings(
    max_examples=int(os.environ.get("PAYOUT_STORY_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=st.lists(steps, min_size=12, max_size=30))
# Found by Hypothesis: a limit set after a lead's first payment and its correction were
# written; the close held the payment and paid the correction, and rejecting the payment
# left the SP paid 39 for a KPI worth nothing. The close now holds them together.
@example(
    story=[
        ("mis", "AT-LOAN1", "40000"),
        ("mis", "AT-LOAN1", "43850"),
        ("limit", "300"),
        ("close",),
        ("reject", 0),
    ]
)
def test_money_stays_right_over_any_interleaving(
    story: list[tuple],
    fresh_ledgers,
    tmp_state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = fresh_ledgers()
    monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
    monkeypatch.delenv("PAYOUT_HOLD_EVENT_ABOVE", raising=False)
    get_settings.cache_clear()
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    operator = Operator(folder, capsys)
    operator.rules()
    operator.leads(LEADS)
    told = Story(operator, url, monkeypatch)
    for step in story:
        told.do(step)
