"""Names as people read them (SPEC §8 maker-checker): the same person however typed,
and no name that hides characters."""

from __future__ import annotations

import pytest

from payout_core.engine.people import UnreadableName, person_name, same_person


@pytest.mark.parametrize(
    "typed", ["alice", "ALICE", "  Alice ", "\uff21\uff4c\uff49\uff43\uff45", "Alice"]
)
def test_one_person_however_the_name_is_typed(typed: str) -> None:
    assert same_person(person_name(typed), "Alice")


def test_different_people_stay_different() -> None:
    assert not same_person("Alice", "Alicia")
    assert not same_person(None, "Alice")
    assert person_name("Ravi   Kumar") == "Ravi Kumar"


@pytest.mark.parametrize(
    "hidden",
    ["Alice\u200b", "Al\u00adice", "\u202eecilA", "Alice\x1b[31m", "Alice\n", "Ali\ufeffce"],
)
def test_a_name_hiding_characters_is_refused_and_says_which(hidden: str) -> None:
    with pytest.raises(UnreadableName, match="invisible or control characters"):
        person_name(hidden)


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_a_blank_name_is_refused(blank: str | None) -> None:
    with pytest.raises(UnreadableName, match="must be named"):
        person_name(blank, role="--by")
