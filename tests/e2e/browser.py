"""Real programs for the browser tests: `payout host --http-port` as a child process, and
Debian's chromium driven through chromium-driver (selenium).

`make setup` installs chromium and chromium-driver when they are missing, so these tests
run on a fresh machine and in CI rather than being skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from payout_core.settings import PROJECT_ROOT

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
HOST_START_SECONDS = 60
LISTENING = re.compile(r"HTTP functions on (http://127\.0\.0\.1:\d+)")


def payout_program() -> str:
    return str(Path(sys.executable).with_name("payout"))


def run_payout(environment: Mapping[str, str], *args: str) -> str:
    """`payout ARGS` to its end in this checkout; its output (it must succeed)."""
    completed = subprocess.run(
        [payout_program(), *args],
        cwd=PROJECT_ROOT,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, f"payout {' '.join(args)}:\n{completed.stderr}"
    return completed.stdout


def browser_programs() -> tuple[str, str]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [path for path in (chromium, driver) if not Path(path).exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: `make setup` installs Debian's chromium and "
            "chromium-driver (apt-get install -y chromium chromium-driver)"
        )
    return chromium, driver


def spawn_payout_host(environment: Mapping[str, str], log_file: BinaryIO) -> subprocess.Popen:
    """`payout host --http-port 0` (a free port) as its own process, logging to `log_file`."""
    return subprocess.Popen(
        [payout_program(), "host", "--http-port", "0"],
        cwd=PROJECT_ROOT,
        env=dict(environment),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        # A shell that started us in the background may have left SIGINT ignored; the
        # host must see it to stop cleanly.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@contextmanager
def payout_host(environment: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """`payout host --http-port 0` (a free port), until the block ends; yields its base URL."""
    with log_path.open("wb") as log_file:
        process = spawn_payout_host(environment, log_file)
        try:
            yield wait_until_listening(process, log_path)
        finally:
            process.send_signal(signal.SIGINT)  # the host's Ctrl-C: stops cleanly
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def wait_until_listening(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + HOST_START_SECONDS
    while time.monotonic() < deadline:
        match = LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"payout host did not start serving HTTP:\n{log_path.read_text()}")


@contextmanager
def chromium(profile_dir: Path, window_size: str = "1280,900") -> Iterator[webdriver.Chrome]:
    chromium_path, driver_path = browser_programs()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={window_size}"):
        options.add_argument(flag)
    # Paths given: selenium looks nothing up and downloads nothing.
    service = Service(executable_path=driver_path, env={**os.environ, "SE_AVOID_STATS": "true"})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
