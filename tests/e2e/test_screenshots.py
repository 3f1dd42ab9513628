"""The screenshots in docs/ are what the code renders, taken here by headless chromium (into
docs/ with `make screenshots`, else into each test's own folder): the
iteration email (its HTML body, as a mail client shows it) and the review page (served by
`payout host`, signed in), each at 1200 px and at a phone's 400 px. At 400 px neither may
scroll sideways as a whole: wide tables scroll inside their own box (the email) or become
cards (the page).

The ledger is the samples' (SPEC §3), processed through the operator's CLI with events
over 1,000 held, so both show released and held money side by side.
"""

from __future__ import annotations

import email
import os
import re
from email import policy
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from payout_core.settings import PROJECT_ROOT
from tests.e2e.browser import run_payout as payout
from tests.e2e.test_review_browser import (  # noqa: F401  (fixtures)
    base_url,
    browser,
    environment,
    payout_json,
    sign_in,
)

pytestmark = pytest.mark.e2e

DOCS = PROJECT_ROOT / "docs"
SAMPLES = PROJECT_ROOT / "samples"
DESKTOP_PX, PHONE_PX = 1200, 400
# A scroll bar or a rounding pixel is no sideways scroll a reader would notice.
WIDTH_SLACK_PX = 2
PAGE_HEIGHT_MAX_PX = 9000
HOLD_ABOVE = "1000"


@pytest.fixture
def samples_with_holds(environment: dict[str, str], tmp_state: Path) -> Path:  # noqa: F811
    """The sample rules, leads and MIS files through the CLI, every payout over 1,000
    held, and the iteration email written to the outbox; returns that email's path."""
    environment["PAYOUT_HOLD_EVENT_ABOVE"] = HOLD_ABOVE
    payout(environment, "rules", "load", str(SAMPLES / "payin_payout_rules.csv"))
    payout(environment, "leads", "load", str(SAMPLES / "leads.csv"))
    for mis in sorted((SAMPLES / "mis").glob("*.csv")):
        payout(environment, "process", str(mis))
    payout(environment, "summary")
    held = payout_json(environment, "holds", "list", "--json")
    assert len(held) >= 2  # something for the page to show, and the email's held column
    [eml] = sorted((tmp_state / "outbox").glob("**/*.eml"))
    return eml


def fit_window(browser: webdriver.Chrome, width_px: int) -> None:  # noqa: F811
    """A viewport `width_px` wide and as tall as the page (a whole-page screenshot)."""
    browser.set_window_size(width_px, 900)
    inner_width_px, inner_height_px = browser.execute_script(
        "return [window.innerWidth, window.innerHeight]"
    )
    # Whatever the window keeps for itself (none in headless chromium, some elsewhere).
    frame_width_px, frame_height_px = width_px - inner_width_px, 900 - inner_height_px
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(
        width_px + frame_width_px, min(PAGE_HEIGHT_MAX_PX, height + frame_height_px)
    )
    assert browser.execute_script("return window.innerWidth") == width_px


def page_width(browser: webdriver.Chrome) -> int:  # noqa: F811
    return browser.execute_script("return document.documentElement.scrollWidth")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the screenshots go: docs/ when asked (`make screenshots`), else the test's own
    folder, so that a test run leaves the tree as it found it."""
    if os.environ.get("PAYOUT_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS
    return tmp_path


def shoot(browser: webdriver.Chrome, folder: Path, name: str, width_px: int) -> Path:  # noqa: F811
    fit_window(browser, width_px)
    path = folder / f"{name}.png"
    assert browser.save_screenshot(str(path))
    return path


def test_the_email_reads_at_1200_and_at_400_px(
    samples_with_holds: Path,
    browser: webdriver.Chrome,  # noqa: F811
    tmp_path: Path,
    shots: Path,
) -> None:
    message = email.message_from_bytes(samples_with_holds.read_bytes(), policy=policy.default)
    body = tmp_path / "iteration-email.html"
    body.write_text(message.get_body(("html",)).get_content(), encoding="utf-8")
    browser.get(body.as_uri())

    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Payin held" in text and "Payout held" in text and "Amounts are in INR (₹)." in text
    assert "Where this cycle's wallet credits come from" in text
    shoot(browser, shots, "email-1200", DESKTOP_PX)
    assert page_width(browser) <= DESKTOP_PX + WIDTH_SLACK_PX

    shoot(browser, shots, "email-400", PHONE_PX)
    assert page_width(browser) <= PHONE_PX + WIDTH_SLACK_PX  # the tables scroll, not the mail
    summary = browser.find_element(By.XPATH, "//h2[.='Success summary']/following::table[1]")
    assert summary.size["width"] > PHONE_PX  # still whole: it scrolls inside its own box


def test_the_review_page_reads_at_1200_and_at_400_px(
    samples_with_holds: Path,
    base_url: str,  # noqa: F811
    browser: webdriver.Chrome,  # noqa: F811
    shots: Path,
) -> None:
    browser.get(f"{base_url}/api/review")
    sign_in(browser, "bob@shiftpay.example")
    why = browser.find_element(By.CSS_SELECTOR, 'td[data-label="Why held"]').text
    assert re.fullmatch(
        r"Payout ₹[\d,]+\.\d\d is above the per-event limit of ₹1,000\.00 "
        r"\(PAYOUT_HOLD_EVENT_ABOVE\) by ₹[\d,]+\.\d\d\.",
        why,
    ), why
    requester = browser.find_element(By.CSS_SELECTOR, 'td[data-label="Requested by"]').text
    assert requester.startswith("MIS file bank_") and requester.endswith(".csv")
    assert browser.find_element(By.ID, "select-all").text.startswith("Select all ")

    shoot(browser, shots, "review-page", DESKTOP_PX)
    assert page_width(browser) <= DESKTOP_PX + WIDTH_SLACK_PX
    # Every column in sight on a laptop: the held table does not scroll in its box.
    overflow_px = browser.execute_script(
        "const wrap = document.querySelector('#held').parentElement;"
        "return wrap.scrollWidth - wrap.clientWidth"
    )
    assert overflow_px <= WIDTH_SLACK_PX
    shoot(browser, shots, "review-page-phone", PHONE_PX)
    assert page_width(browser) <= PHONE_PX + WIDTH_SLACK_PX
    # On a phone each held row is a card: its cells stack, each with its column's name.
    card = browser.find_element(By.CSS_SELECTOR, "#held tbody tr")
    assert card.size["width"] <= PHONE_PX
