"""Every amount explained, in a real browser (SPEC §10): headless chromium against
`payout host` (real PostgreSQL, Azurite), signed in: search a LeadId, read the lead's
story, go to its SP, open the SP's statement for the cycle; at desktop and at phone width
(400 px). A file name with markup in it is shown as text, never run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.e2e.browser import run_payout as payout
from tests.e2e.test_review_browser import (  # noqa: F401  (fixtures)
    LEADS,
    MIS,
    RULES,
    base_url,
    browser,
    click_and_wait,
    environment,
    sign_in,
)

pytestmark = pytest.mark.e2e

LEAD = "AT-YXXWY"
SP = "SP-042"
MARKUP_FILE = "bank_b_<img src=x onerror=alert(1)>_2023-10-03.csv"
SHOTS = Path(os.environ.get("PAYOUT_SCREENSHOTS", "/tmp/explain-screenshots"))


@pytest.fixture
def one_paid_cycle(environment: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    mis = tmp_path / MARKUP_FILE
    mis.write_text(MIS)
    payout(environment, "rules", "load", str(RULES))
    payout(environment, "leads", "load", str(leads))
    payout(environment, "process", str(mis))
    payout(environment, "summary")


def shot(browser: webdriver.Chrome, name: str) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def walk_search_lead_sp_statement(browser: webdriver.Chrome, base: str, width: str) -> None:  # noqa: F811
    browser.get(f"{base}/api/review")
    click_and_wait(browser, By.ID, "find-link")
    browser.find_element(By.ID, "find-q").send_keys(LEAD)
    click_and_wait(browser, By.ID, "find-go")
    events = browser.find_element(By.ID, "lead-events").text
    assert "439.00" in events and "1 % × 43,850 = 438.5 → 439" in events
    assert MARKUP_FILE in events  # the file's name as text
    assert not browser.find_elements(By.CSS_SELECTOR, "#lead-events img")
    shot(browser, f"lead-{width}")

    click_and_wait(browser, By.ID, "sp-link")
    cycle = browser.find_element(By.ID, "cycle-1-events").text
    assert LEAD in cycle and "439.00" in cycle
    shot(browser, f"sp-{width}")

    click_and_wait(browser, By.CLASS_NAME, "statement-link")
    summary = browser.find_element(By.ID, "summary").text
    assert "Credit sent 439.00" in summary and "Carried to the next cycle 0.00" in summary
    assert f"Statement for SP {SP}, cycle 1" in browser.page_source
    shot(browser, f"statement-{width}")


def test_search_lead_sp_statement_at_desktop_and_phone_width(
    one_paid_cycle: None,
    base_url: str,  # noqa: F811
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    browser.get(f"{base_url}/api/review?view=lead&lead={LEAD}")
    assert "Sign in" in browser.page_source and "439.00" not in browser.page_source
    sign_in(browser, "carol@shiftpay.example")
    walk_search_lead_sp_statement(browser, base_url, "desktop")

    browser.set_window_size(400, 900)
    walk_search_lead_sp_statement(browser, base_url, "phone")
    page_width = browser.execute_script("return document.documentElement.scrollWidth")
    assert page_width <= 400
    browser.get(f"{base_url}/api/review?view=find&q=NO-SUCH-ONE")
    assert "No lead or SP NO-SUCH-ONE" in browser.find_element(By.ID, "not-found").text
