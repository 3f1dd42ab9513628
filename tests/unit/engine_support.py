"""Builders for engine unit tests: MIS text, rules text and leads frames, all in memory."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from payout_core.engine import calculate, mis, rules
from payout_core.engine.banks import BankProfile, BankProfiles
from payout_core.engine.products import handler_for

# The rules file's columns before Credit Card was added: a file of that shape still loads.
RULES_HEADER = (
    "SourceType,MediumType,ProductType,KPIStartDate,KPIEndDate,KPI1PayinPercentage,"
    "KPI1PayoutPercentage,KPI1PayinAmount,KPI1PayoutAmount,MinInvestedAmountBound,"
    "KPI2PayinAmount,KPI2PayoutAmount,SuccessCriteria"
)
SAVINGS_HEADER = "SourceType,MediumType,ProductType,TrackingId,AccountOpeningDate,InvestedAmount"
LOAN_HEADER = (
    "SourceType,MediumType,ProductType,TrackingId,ApprovedAmount,SanctionedAmount,"
    "DisbursedAmount,LoanDisbursedDate"
)

# SPEC §4's worked-example rules, 1–3 Oct 2023.
SPEC_RULES = f"""{RULES_HEADER}
Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,"Account opened;
KPI2 when invested >= 2000"
Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,1,,,,,,"Loan disbursed"
"""

STANDARD_BANKS = BankProfiles(BankProfile(None), {})


def spec_rules_frame() -> pl.DataFrame:
    return rules.rules_frame(rules.parse_rules(SPEC_RULES, "rules.csv"))


def leads_frame(*leads: tuple[str, str, str, str, str, str]) -> pl.DataFrame:
    """(lead_id, sp_id, source_type, medium_type, product_type, status) tuples."""
    return pl.DataFrame(list(leads), schema=calculate.LEADS_SCHEMA, orient="row")


def pending(lead_id: str, product: str = "Savings Account", sp_id: str = "SP-1"):
    source = "Bank_A" if product == "Savings Account" else "Bank_B"
    return (lead_id, sp_id, source, "Medium_A", product, "Pending")


def write(tmp_path: Path, text: str, name: str = "mis.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def classify_file(
    path: Path,
    leads: pl.DataFrame,
    rules_frame: pl.DataFrame | None = None,
    profiles: BankProfiles = STANDARD_BANKS,
    batch_rows: int = 1_000_000,
    balances: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The whole read -> calculate chain for one file, batches included, without a database."""
    layout = mis.inspect_layout(path, path.name, profiles)
    rules_frame = spec_rules_frame() if rules_frame is None else rules_frame
    seen = calculate.SeenLeadIds()
    classified = []
    for batch in mis.read_batches(path, layout, batch_rows):
        classified.append(
            with_reasons(
                calculate.classify(
                    batch,
                    seen=seen,
                    leads=leads,
                    balances=balances,
                    rules=rules_frame,
                    handler=layout.handler,
                )
            )
        )
        seen.add(batch["lead_id"])
    return pl.concat(classified)


def with_reasons(classified: pl.DataFrame) -> pl.DataFrame:
    """The classified rows with the reason `rejected_rows` gives each row not paid."""
    reasons = calculate.rejected_rows(classified).select("row_number", "reason")
    return classified.join(reasons, on="row_number", how="left", maintain_order="left")


def savings_handler():
    return handler_for("Savings Account")


# --- MIS rows and small helpers (tests of the engine) -----------------------------------

SAVINGS = "Savings Account"
LOAN = "Personal Loan"


def savings_row(
    lead_id: str | None,
    date: str = "2 10 2023",
    invested: str = "2616",
    *,
    source: str = "Bank_A",
    medium: str = "Medium_A",
    product: str = SAVINGS,
    tracking_id: str | None = None,
) -> str:
    """One Savings Account MIS line; tracking_id overrides the KYC_new_<lead_id> default."""
    tracking = tracking_id if tracking_id is not None else f"KYC_new_{lead_id or ''}"
    return ",".join([source, medium, product, tracking, date, invested])


def loan_row(
    lead_id: str | None,
    disbursed: str = "43850",
    date: str = "2 10 2023",
    *,
    source: str = "Bank_B",
    medium: str = "Medium_A",
    product: str = LOAN,
    tracking_id: str | None = None,
) -> str:
    tracking = tracking_id if tracking_id is not None else f"KYC_new_{lead_id or ''}"
    return ",".join([source, medium, product, tracking, "50000", "45000", disbursed, date])


def mis_text(header: str, *rows: str) -> str:
    return "\n".join([header, *rows]) + "\n"


def lead(
    lead_id: str,
    status: str = "Pending",
    *,
    source: str = "Bank_A",
    medium: str = "Medium_A",
    product: str = SAVINGS,
    sp_id: str = "SP-1",
) -> tuple[str, str, str, str, str, str]:
    return (lead_id, sp_id, source, medium, product, status)


def by_row(classified: pl.DataFrame) -> dict[int, dict]:
    """row_number -> the classified row as a dict."""
    return {row["row_number"]: row for row in classified.iter_rows(named=True)}


def outcomes(classified: pl.DataFrame) -> list[str]:
    return classified.sort("row_number")["outcome"].to_list()


AMOUNT_COLUMNS = (
    "kpi1_payin_amount_minor",
    "kpi1_payout_amount_minor",
    "kpi2_payin_amount_minor",
    "kpi2_payout_amount_minor",
    "total_payin_minor",
    "total_payout_minor",
)


def amounts(row: dict) -> tuple[Decimal | None, ...]:
    """(KPI1 payin, KPI1 payout, KPI2 payin, KPI2 payout, total payin, total payout) in
    whole currency units, exact: minor units / 100 as Decimal."""
    return tuple(
        None if row[column] is None else Decimal(row[column]) / 100 for column in AMOUNT_COLUMNS
    )
