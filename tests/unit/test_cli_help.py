"""`payout --help` speaks to operators (issue 26, item 8): every command and every argument
says what it is for, and no developer's note (which module knows what, how fast the help
is) reaches the screen."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from localdev import cli as payout

DEVELOPER_NOTES = ("module", "knows nothing", "instant", ".py", "(a)", "(b)", "DEBUG")


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield from parsers(command)


PARSERS = {parser.prog: parser for parser in parsers(payout.build_parser())}


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_every_help_text_speaks_to_an_operator(prog: str) -> None:
    parser = PARSERS[prog]
    text = parser.format_help()
    assert not [note for note in DEVELOPER_NOTES if note in text], text
    undocumented = [
        action.dest
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == [], f"{prog}: arguments without help: {undocumented}"


def test_every_command_is_named_in_the_overview() -> None:
    overview = PARSERS["payout"].format_help()
    commands = {prog.split()[1] for prog in PARSERS if prog.count(" ") == 1}
    assert commands >= {"host", "demo", "summary", "process", "holds", "remittance"}
    assert all(f"    {command} " in overview for command in commands)
