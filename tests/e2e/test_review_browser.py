"""Finance decides a held clawback in a real browser.

Headless chromium against `payout host --http-port` (real PostgreSQL, Azurite): the page
asks for a sign-in, the person who asked for the recalculation that clawed money back
cannot approve it, and someone else can. Checked afterwards through the CLI
(`payout holds list --all --json`), as an operator would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from payout_core.settings import PROJECT_ROOT, Settings
from tests.e2e.browser import chromium, payout_host
from tests.e2e.browser import run_payout as payout

pytestmark = pytest.mark.e2e

MAKER = "alice@shiftpay.example"
CHECKER = "bob@shiftpay.example"
LEAD = "AT-YXXWY"
LEADS = (
    "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus\n"
    f"2023-09-28 10:00:00,SP-042,{LEAD},Bank_B,Medium_A,Personal Loan,Pending,\n"
)
MIS = (
    "SourceType,MediumType,ProductType,TrackingId,ApprovedAmount,SanctionedAmount,"
    "DisbursedAmount,LoanDisbursedDate\n"
    f"Bank_B,Medium_A,Personal Loan,KYC_new_{LEAD},78000,76000,43850,2 10 2023\n"
)
RULES = PROJECT_ROOT / "samples" / "payin_payout_rules.csv"
# The 1-3 Oct 2023 Personal Loan rule pays out 1 % (439 of 43850); version 2 pays 0.9 % (395).
PAYOUT_1_PERCENT = "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,1,"
PAYOUT_0_9_PERCENT = "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,0.9,"
PAGE_SECONDS = 30


@pytest.fixture
def environment(database_url: str, storage_env: Settings, tmp_state: Path) -> dict[str, str]:
    """The environment of every `payout` this test runs (the fixtures set it in ours)."""
    return {
        **os.environ,
        "PAYOUT_REVIEW_SECRET": "e2e-" + "x" * 40,
        "PAYOUT_EMAIL_SENDER": "outbox",
    }


@pytest.fixture
def held_clawback(environment: dict[str, str], tmp_path: Path) -> int:
    """Through the operator's CLI: a loan paid from an MIS file, then finance lowers the
    payout percentage and MAKER recalculates; the clawback that makes is held."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    mis = tmp_path / "bank_b_personal_loan_2023-10-03.csv"
    mis.write_text(MIS)
    rules_v2 = tmp_path / "payin_payout_rules_v2.csv"
    rules_v2.write_text(RULES.read_text().replace(PAYOUT_1_PERCENT, PAYOUT_0_9_PERCENT, 1))
    payout(environment, "rules", "load", str(RULES))
    payout(environment, "leads", "load", str(leads))
    payout(environment, "process", str(mis))
    payout(environment, "rules", "load", str(rules_v2))
    payout(environment, "recalculate", "--by", MAKER)
    (held,) = payout_json(environment, "holds", "list", "--json")
    assert (held["lead_id"], held["kind"], held["payout_amount"]) == (LEAD, "adjustment", "-44.00")
    return int(held["event_id"])  # type: ignore[call-overload]


@pytest.fixture
def base_url(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with payout_host(environment, tmp_path / "host.log") as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def payout_json(environment: dict[str, str], *args: str) -> list[dict[str, object]]:
    lines = payout(environment, *args).splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def click_and_wait(browser: webdriver.Chrome, by: str, value: str) -> None:
    """Click what leads to another page and wait until that page replaced this one (a
    click returns before a form's response has loaded)."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, value).click()
    WebDriverWait(browser, PAGE_SECONDS).until(expected_conditions.staleness_of(page))
    WebDriverWait(browser, PAGE_SECONDS).until(
        lambda driver: driver.execute_script("return document.readyState") == "complete"
    )


def sign_in(browser: webdriver.Chrome, name: str) -> None:
    """From the page's own 'Sign in' link, as a person would."""
    click_and_wait(browser, By.ID, "sign-in")
    field = browser.find_element(By.ID, "name")
    field.clear()
    field.send_keys(name)
    click_and_wait(browser, By.ID, "sign-in")
    assert browser.find_element(By.ID, "signed-in-as").text.startswith(f"Signed in as {name}")


def approve(browser: webdriver.Chrome, event_id: int) -> str:
    browser.find_element(By.ID, f"event-{event_id}").click()
    click_and_wait(browser, By.ID, "approve")
    return browser.find_element(By.ID, "message").text


def test_a_held_clawback_is_approved_by_someone_other_than_its_maker(
    environment: dict[str, str], held_clawback: int, base_url: str, browser: webdriver.Chrome
) -> None:
    browser.get(f"{base_url}/api/review")
    assert "Sign in to see and decide held payouts" in browser.page_source
    assert LEAD not in browser.page_source

    sign_in(browser, MAKER)
    row = browser.find_element(By.ID, f"held-{held_clawback}").text
    assert LEAD in row and "SP-042" in row and "-44.00" in row and MAKER in row

    refusal = approve(browser, held_clawback)
    assert "Nothing was decided" in refusal and "maker-checker" in refusal
    assert browser.find_elements(By.ID, f"held-{held_clawback}")

    click_and_wait(browser, By.LINK_TEXT, "Sign out")
    sign_in(browser, CHECKER)
    assert approve(browser, held_clawback) == f"Approved 1 event(s): #{held_clawback}."
    assert not browser.find_elements(By.ID, f"held-{held_clawback}")
    decided = browser.find_element(By.ID, f"decided-{held_clawback}").text
    assert "approved" in decided and CHECKER in decided

    (listed,) = [
        line
        for line in payout_json(environment, "holds", "list", "--all", "--json")
        if line["event_id"] == held_clawback
    ]
    assert (listed["status"], listed["decided_by"]) == ("approved", CHECKER)
