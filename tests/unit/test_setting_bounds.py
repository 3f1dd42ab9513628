"""Limits with sane bounds, checked when the settings are read (issue 21, item 12): a hold
limit the ledger cannot compare with (1e309, NaN, negative, larger than any amount it
stores) stops the command with a sentence, never every cycle close with a traceback."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payout_cli import commands
from payout_core.engine.amount_limits import LEDGER_AMOUNT_MAX
from payout_core.errors import ConfigurationError
from payout_core.settings import get_settings


@pytest.mark.parametrize("setting", ["PAYOUT_HOLD_EVENT_ABOVE", "PAYOUT_HOLD_SP_CYCLE_ABOVE"])
@pytest.mark.parametrize(
    "value", ["1e309", "NaN", "-Infinity", "-1", "100000000000000", "1e15", "12.345", "5,000"]
)
def test_an_absurd_hold_limit_is_refused_naming_setting_value_and_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: str
) -> None:
    monkeypatch.setenv(setting, value)
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    assert str(caught.value) == (
        f"{setting} is {value!r}: expected an amount from 0 to 99,999,999,999,999.99 (the "
        "largest the ledger stores) with at most 2 decimals, or blank for no limit"
    )


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        ("0", Decimal(0)),
        (" 5000.50 ", Decimal("5000.50")),
        (str(LEDGER_AMOUNT_MAX), LEDGER_AMOUNT_MAX),
    ],
)
def test_a_hold_limit_the_ledger_can_hold_is_read_exactly(
    monkeypatch: pytest.MonkeyPatch, value: str, limit: Decimal
) -> None:
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", value)
    assert get_settings().hold_limits.event_payout_above == limit


def test_holds_list_with_a_limit_of_1e309_says_why_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "1e309")
    # Exit code 2 since issue 26: a refused setting is a usage error, like any other.
    assert commands.main(["holds", "list"]) == commands.EXIT_USAGE
    error = capsys.readouterr().err
    assert error.startswith("error: PAYOUT_HOLD_EVENT_ABOVE is '1e309': expected an amount")
    assert "Traceback" not in error


def test_every_other_setting_refused_is_named_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYOUT_DB_POOL_MAX_SIZE", "many")
    with pytest.raises(ConfigurationError, match="PAYOUT_DB_POOL_MAX_SIZE is 'many': "):
        get_settings()
