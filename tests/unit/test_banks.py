"""Per-bank column names and date formats are configuration (config/banks.toml), not code."""

from __future__ import annotations

from pathlib import Path

import pytest

from payout_core.engine import calculate, rules
from payout_core.engine.banks import STANDARD_DATE_FORMAT, load_bank_profiles
from payout_core.errors import ConfigurationError, MisFileError
from tests.unit.engine_support import (
    RULES_HEADER,
    SAVINGS_HEADER,
    amounts,
    by_row,
    classify_file,
    lead,
    leads_frame,
    mis_text,
    pending,
    savings_row,
    write,
)

REPO = Path(__file__).resolve().parents[2]

BANK_D_TOML = """
[standard]
date_format = "%d %m %Y"

[[bank]]
source_type = "Bank_D"
date_format = "%Y-%m-%d"

[bank.columns]
TrackingId = "ApplicationRef"
"""

BANK_D_RULES = f"""{RULES_HEADER}
Bank_D,Medium_B,Savings Account,1 10 2023,31 10 2023,,,1200,800,5000,700,300,"Opened"
Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,"Opened"
"""

BANK_D_MIS = """SourceType,MediumType,ProductType,ApplicationRef,AccountOpeningDate,InvestedAmount
Bank_D,Medium_B,Savings Account,APP-2023-AT-DX1A9,2023-10-02,5000
Bank_D,Medium_B,Savings Account,APP-2023-AT-DX2B8,2023-10-31,4999.99
Bank_D,Medium_B,Savings Account,APP-2023-AT-DX3C7,02 10 2023,6000
Bank_D,Medium_B,Savings Account,APP-2023-AT-DX4D6,2023-11-01,6000
"""


def bank_d_leads():
    return leads_frame(
        *(
            lead(f"AT-DX{n}", source="Bank_D", medium="Medium_B")
            for n in ("1A9", "2B8", "3C7", "4D6")
        )
    )


def bank_d_rules():
    return rules.rules_frame(rules.parse_rules(BANK_D_RULES, "rules.csv"))


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "banks.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bank_with_its_own_column_name_and_date_format_is_onboarded_by_configuration(tmp_path):
    profiles = load_bank_profiles(write_config(tmp_path, BANK_D_TOML))
    classified = classify_file(
        write(tmp_path, BANK_D_MIS, "bank_d.csv"), bank_d_leads(), bank_d_rules(), profiles
    )
    rows = by_row(classified)
    assert rows[1]["lead_id"] == "AT-DX1A9"
    assert rows[1]["outcome"] == "paid"
    assert amounts(rows[1])[4:] == (1900, 1100)  # invested 5000 == bound: KPI2 paid
    assert rows[2]["outcome"] == "paid"  # last day of the window
    assert amounts(rows[2])[4:] == (1200, 800)  # 4999.99 < bound: KPI1 only
    # the standard date format is not this bank's: the row is invalid, with the expected shape
    assert rows[3]["outcome"] == "invalid"
    assert "02 10 2023" in rows[3]["reason"] and "2023-10-02" in rows[3]["reason"]
    assert rows[4]["outcome"] == "no_active_rule"
    assert sum(calculate.outcome_counts(classified).values()) == 4


def test_the_same_file_without_the_bank_configuration_is_refused_for_missing_tracking_id(
    tmp_path,
):
    profiles = load_bank_profiles(write_config(tmp_path, "[standard]\n"))
    path = write(tmp_path, BANK_D_MIS, "bank_d.csv")
    with pytest.raises(MisFileError) as caught:
        classify_file(path, bank_d_leads(), bank_d_rules(), profiles)
    assert "TrackingId" in caught.value.cause
    assert "bank_d.csv" in str(caught.value)


def test_configured_bank_does_not_change_how_standard_files_are_read(tmp_path):
    profiles = load_bank_profiles(write_config(tmp_path, BANK_D_TOML))
    path = write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-91961", "2 10 2023", "2616")))
    classified = classify_file(path, leads_frame(pending("AT-91961")), bank_d_rules(), profiles)
    assert classified["outcome"].to_list() == ["paid"]
    assert classified["total_payin_minor"].to_list() == [250_000]


def test_every_renamed_column_and_another_date_format_by_configuration_alone(tmp_path):
    config = """
[[bank]]
source_type = "Bank_E"
date_format = "%d/%m/%Y"

[bank.columns]
SourceType = "Partner"
MediumType = "Channel"
ProductType = "Product"
TrackingId = "Ref"
AccountOpeningDate = "OpenedOn"
InvestedAmount = "Deposit"
"""
    rules_text = f"""{RULES_HEADER}
Bank_E,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,x
"""
    mis_file = (
        "Partner,Channel,Product,Ref,OpenedOn,Deposit\n"
        "Bank_E,Medium_A,Savings Account,E-AT-00001,3/10/2023,2000\n"
    )
    classified = classify_file(
        write(tmp_path, mis_file, "bank_e.csv"),
        leads_frame(lead("AT-00001", source="Bank_E")),
        rules.rules_frame(rules.parse_rules(rules_text, "rules.csv")),
        load_bank_profiles(write_config(tmp_path, config)),
    )
    row = by_row(classified)[1]
    assert row["outcome"] == "paid"
    assert str(row["event_date"]) == "2023-10-03"
    assert amounts(row)[4:] == (2500, 1500)


def test_shipped_configuration_maps_bank_e_and_keeps_the_standard_format():
    profiles = load_bank_profiles(REPO / "config" / "banks.toml")
    assert profiles.standard.date_format == STANDARD_DATE_FORMAT
    bank_e = profiles.by_source_type["Bank_E"]
    assert bank_e.header_for("TrackingId") == "ApplicationRef"
    assert bank_e.header_for("InvestedAmount") == "InvestedAmount"
    assert bank_e.date_format == "%Y-%m-%d"


def test_bank_without_source_type_is_refused(tmp_path):
    path = write_config(tmp_path, '[[bank]]\ndate_format = "%Y-%m-%d"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_bank_profiles(path)
    assert any("source_type" in problem for problem in caught.value.problems)
    assert str(path) in str(caught.value)


def test_bank_configured_twice_is_refused(tmp_path):
    path = write_config(
        tmp_path,
        '[[bank]]\nsource_type = "Bank_D"\n\n[[bank]]\nsource_type = "Bank_D"\n'
        'date_format = "%Y-%m-%d"\n',
    )
    with pytest.raises(ConfigurationError) as caught:
        load_bank_profiles(path)
    assert any("Bank_D" in problem and "twice" in problem for problem in caught.value.problems)


def test_every_bad_bank_entry_is_listed(tmp_path):
    path = write_config(
        tmp_path,
        '[[bank]]\ndate_format = "%Y"\n\n[[bank]]\nsource_type = "Bank_D"\n\n'
        '[[bank]]\nsource_type = "Bank_D"\n',
    )
    with pytest.raises(ConfigurationError) as caught:
        load_bank_profiles(path)
    assert len(caught.value.problems) == 2
    assert "#1" in caught.value.problems[0] and "#3" in caught.value.problems[1]


def test_configuration_that_is_not_toml_is_refused(tmp_path):
    path = write_config(tmp_path, "[[bank]\nsource_type = Bank_D\n")
    with pytest.raises(ConfigurationError) as caught:
        load_bank_profiles(path)
    assert str(path) in str(caught.value)


def test_missing_configuration_file_is_refused(tmp_path):
    with pytest.raises(ConfigurationError):
        load_bank_profiles(tmp_path / "nowhere.toml")
