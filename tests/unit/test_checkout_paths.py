"""Local paths follow the checkout a command is started in, not where `payout` is installed
(issue 26, item 7): a second clone's demo read the first clone's samples/ and wiped its
.state/demo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from payout_core.settings import PROJECT_ROOT, Settings, checkout_root


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second checkout, and a person working in one of its folders."""
    for setting in ("PAYOUT_STATE_DIR", "PAYOUT_OUTBOX_DIR", "PAYOUT_BANKS_FILE"):
        monkeypatch.delenv(setting, raising=False)
    checkout = tmp_path / "second-clone"
    (checkout / "samples" / "mis").mkdir(parents=True)
    for marker in ("function_app.py", "host.json"):
        shutil.copy(PROJECT_ROOT / marker, checkout)
    shutil.copytree(PROJECT_ROOT / "config", checkout / "config")
    monkeypatch.chdir(checkout / "samples" / "mis")
    return checkout


def test_the_checkout_is_the_nearest_folder_above_holding_the_app(clone: Path) -> None:
    assert checkout_root() == clone
    assert checkout_root(clone.parent) == PROJECT_ROOT  # outside any checkout: the app's own


def test_state_outbox_and_bank_profiles_default_to_the_checkout(clone: Path) -> None:
    settings = Settings()
    assert settings.state_dir == clone / ".state"
    assert settings.outbox_dir == clone / ".state" / "outbox"  # follows the state folder
    assert settings.banks_file == clone / "config" / "banks.toml"


def test_a_relative_path_is_read_from_the_checkout(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOUT_STATE_DIR", ".state-2")  # as local.settings.json writes it
    settings = Settings()
    assert settings.state_dir == clone / ".state-2"
    assert settings.outbox_dir == clone / ".state-2" / "outbox"


def test_in_azure_it_is_the_app_s_folder(clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "instance")
    assert checkout_root() == PROJECT_ROOT
