"""People's names as people read them (SPEC §8, maker-checker).

Whoever asked for a change may not approve it. Names are compared the way a person reads
them: Unicode NFKC (a full-width 'Ａlice' is 'Alice'), case folded, surrounding and
repeated spaces ignored. A name carrying control or invisible characters (a zero-width
space, a bidirectional override) is refused outright: it would look like someone else's
name in the audit trail while comparing different. Migration 005's `person_key` and
`is_readable_name` are the database's copy of this rule, its backstop.
"""

from __future__ import annotations

import unicodedata

# Unicode categories no readable name contains: controls, format characters (zero-width
# spaces and joiners, bidirectional marks), surrogates, private use, unassigned, and line
# or paragraph separators.
UNREADABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
NAME_MAX_CHARACTERS = 200


class UnreadableName(ValueError):
    """A name that cannot be shown or compared as people read it."""


def person_name(text: str | None, *, role: str = "name") -> str:
    """The name as it is recorded: NFKC, single spaces, no surrounding spaces.

    Raises UnreadableName saying why, with `role` ("--by", "reviewer") in the message.
    """
    if text is None or not text.strip():
        raise UnreadableName(f"the {role} must be named (it is blank)")
    hidden = sorted(
        {f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in UNREADABLE_CATEGORIES}
    )
    if hidden:
        raise UnreadableName(
            f"the {role} {text.encode('unicode_escape').decode()!r} contains invisible or "
            f"control characters ({', '.join(hidden)}); type the name plainly"
        )
    name = " ".join(unicodedata.normalize("NFKC", text).split())
    if len(name) > NAME_MAX_CHARACTERS:
        raise UnreadableName(f"the {role} is longer than {NAME_MAX_CHARACTERS} characters")
    return name


def person_key(name: str | None) -> str:
    """What two names are compared by: equal keys, same person."""
    return " ".join(unicodedata.normalize("NFKC", name or "").split()).casefold()


def same_person(first: str | None, second: str | None) -> bool:
    return bool(first and second) and person_key(first) == person_key(second)
