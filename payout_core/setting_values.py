"""What each setting may hold, in an operator's words, and the sentence a refused value gets.

A setting's type carries an `Expected`: the words for what it holds and, for text, the
check its value must pass (a container name, an e-mail address, a 6-field NCRONTAB...).
Numbers, choices and true/false are described from their type and bounds. When the
settings are read, every refused value becomes one sentence: the setting's name, its
value (keys, passwords and secrets never repeated) and what is expected (`refusal`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from annotated_types import Ge, Gt, Le
from pydantic import GetCoreSchemaHandler, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, ErrorDetails, core_schema

from payout_core.engine.amount_limits import LEDGER_AMOUNT_MAX

# The review page's form-signing key: shorter is guessable (payout_core/review/forms.py).
REVIEW_SECRET_MIN_CHARS = 32


@dataclass(frozen=True)
class Expected:
    """What a setting holds, in words (metadata of its type), and the check its value must
    pass beyond the type, if any; `example` is a value that passes."""

    words: str
    accepts: Callable[[Any], bool] | None = None
    example: str = ""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        accepts = self.accepts
        if accepts is None:
            return schema

        def check(value: Any) -> Any:
            if not accepts(value):
                raise ValueError(self.words)
            return value

        return core_schema.no_info_after_validator_function(check, schema)


def _text(words: str, pattern: str, example: str) -> Expected:
    compiled = re.compile(pattern)
    return Expected(words, lambda text: compiled.fullmatch(text) is not None, example)


def _address(example: str) -> Expected:
    """An http(s) address, described by an example of its shape."""
    return _text(f"an address like {example}", _URL, example.lower())


def _key_values(*any_of: str, all_of: tuple[str, ...] = ()) -> Callable[[str], bool]:
    """A connection string: `key=value` parts separated by `;`, with the keys named."""

    def accepts(text: str) -> bool:
        parts = [part for part in text.split(";") if part.strip()]
        keys = {part.partition("=")[0].strip().lower() for part in parts}
        return (
            bool(parts)
            and all("=" in part for part in parts)
            and (not any_of or bool(keys.intersection(any_of)))
            and keys.issuperset(all_of)
        )

    return accepts


_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_URL = r"https?://[^\s/?#]+(?:[/?#]\S*)?"
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")


def _email_addresses(text: str) -> bool:
    addresses = [part.strip() for part in text.split(",") if part.strip()]
    return bool(addresses) and all(_EMAIL.fullmatch(address) for address in addresses)


def _ncrontab(text: str) -> bool:
    fields = text.split()
    return len(fields) == 6 and all(_CRON_FIELD.fullmatch(field) for field in fields)


DatabaseUrl = Annotated[str, _text(
    "a PostgreSQL URL (postgresql://USER@HOST:5432/DATABASE) or key=value connection string",
    r"postgres(?:ql)?://\S+|[a-z_]+\s*=.*",
    "postgresql://app@server.postgres.database.azure.com:5432/payout?sslmode=require",
)]  # fmt: skip
ClientId = Annotated[str, _text(
    "a client id: a GUID like 00000000-0000-0000-0000-000000000000",
    r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
    "00000000-0000-0000-0000-000000000000",
)]  # fmt: skip
Folder = Annotated[
    Path, Expected("a folder, not a file", lambda path: not path.exists() or path.is_dir())
]
ExistingFile = Annotated[Path, Expected("an existing file", Path.is_file)]
StorageConnection = Annotated[str, Expected(
    "a storage connection string (AccountName=…;AccountKey=…, BlobEndpoint=…, or "
    "UseDevelopmentStorage=true)",
    _key_values("accountname", "blobendpoint", "usedevelopmentstorage"),
    "UseDevelopmentStorage=true",
)]  # fmt: skip
ServiceUri = Annotated[str, _address("https://ACCOUNT.blob.core.windows.net")]
StorageAccountName = Annotated[str, _text(
    "a storage account name: 3-24 lowercase letters and digits", r"[a-z0-9]{3,24}", "sthost"
)]  # fmt: skip
ContainerName = Annotated[str, _text(
    "a container name: 3-63 lowercase letters, digits and single hyphens, starting and "
    "ending with a letter or digit",
    r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}",
    "mis-inbox",
)]  # fmt: skip
ReviewSecret = Annotated[SecretStr, Expected(
    f"at least {REVIEW_SECRET_MIN_CHARS} random characters",
    lambda secret: len(secret.get_secret_value()) >= REVIEW_SECRET_MIN_CHARS,
)]  # fmt: skip
NcrontabSchedule = Annotated[str, Expected(
    "an NCRONTAB schedule of 6 fields, seconds first (0 0 6 * * * is 06:00 UTC daily)",
    _ncrontab,
    "0 0 6 * * *",
)]  # fmt: skip
EmailAddress = Annotated[str, Expected(
    "an e-mail address like DoNotReply@example.com",
    lambda text: _EMAIL.fullmatch(text) is not None,
    "DoNotReply@example.com",
)]  # fmt: skip
EmailAddresses = Annotated[str, Expected(
    "e-mail addresses separated by commas", _email_addresses, "finance@example.com"
)]  # fmt: skip
AcsConnection = Annotated[str, Expected(
    "an ACS connection string: endpoint=https://…;accesskey=…",
    _key_values(all_of=("endpoint", "accesskey")),
)]  # fmt: skip
AcsEndpoint = Annotated[str, _address("https://NAME.communication.azure.com")]
PageAddress = Annotated[str, _address("https://APP.azurewebsites.net/api/review")]
# The currency every amount is in (the ledger stores numbers; people read them in this).
CURRENCY_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "AED": "AED ", "SGD": "S$"}
CurrencyCode = Annotated[str, Expected(
    f"a currency code, one of {', '.join(CURRENCY_SYMBOLS)}",
    lambda code: code in CURRENCY_SYMBOLS,
    "INR",
)]  # fmt: skip
# Checked by Settings._hold_limit (a bound the ledger sets), described here.
HoldLimit = Annotated[Decimal, Expected(
    f"an amount from 0 to {LEDGER_AMOUNT_MAX:,} (the largest the ledger stores) with at "
    "most 2 decimals, or blank for no limit"
)]  # fmt: skip


def _annotation_parts(annotation: Any) -> Iterator[Any]:
    """The annotation, its members and their metadata (a Literal's values excluded)."""
    yield annotation
    if get_origin(annotation) is not Literal:
        for part in get_args(annotation):
            yield from _annotation_parts(part)


def expected_of(field: FieldInfo) -> Expected | None:
    """The field's `Expected`, if its type carries one (pydantic keeps a top-level
    Annotated's metadata in the field's, a nested one in the annotation)."""
    parts = [*field.metadata, *_annotation_parts(field.annotation)]
    return next((part for part in parts if isinstance(part, Expected)), None)


def expected_words(field: FieldInfo, name: str = "") -> str:
    """What `field` (the setting `name`) holds, in words: its `Expected`, else its choices,
    true or false, or its number range (with the unit its name ends in)."""
    expected = expected_of(field)
    if expected is not None:
        return expected.words
    parts = list(_annotation_parts(field.annotation))
    choices = next((get_args(part) for part in parts if get_origin(part) is Literal), ())
    if choices:
        return "one of " + ", ".join(map(str, choices))
    if bool in parts:
        return "true or false"
    noun = "a whole number" if int in parts else "a number"
    unit = next((f" of {unit}" for unit in ("seconds", "bytes") if name.lower().endswith(unit)), "")
    low = next((bound.ge for bound in field.metadata if isinstance(bound, Ge)), None)
    above = next((bound.gt for bound in field.metadata if isinstance(bound, Gt)), None)
    high = next((bound.le for bound in field.metadata if isinstance(bound, Le)), None)
    if low is not None and high is not None:
        return f"{noun}{unit} from {low:,} to {high:,}"
    if above is not None:
        return f"{noun}{unit} above {above:,}"
    return f"{noun}{unit}, at least {low:,}" if low is not None else noun + unit


# Keys in connection strings and passwords in URLs: never repeated in a message.
_KEYS = re.compile(r"(?i)((?:accountkey|accesskey|sharedaccesssignature|password)\s*=\s*)[^;&\s]+")
_URL_PASSWORD = re.compile(r"(://[^/@:\s]+:)[^/@\s]+@")
SHOWN_VALUE_MAX_CHARS = 80


def shown_value(value: object, *, secret: bool) -> str:
    """A refused value as a message may repeat it: quoted, keys and passwords masked, a
    secret only by its length."""
    text = str(value)
    if secret:
        return f"a value of {len(text)} characters (not shown)"
    masked = _URL_PASSWORD.sub(r"\1***@", _KEYS.sub(r"\1***", text))
    return repr(masked[:SHOWN_VALUE_MAX_CHARS])


def refusal(detail: ErrorDetails, fields: dict[str, FieldInfo]) -> tuple[str, str]:
    """(setting name, sentence) for one of pydantic's error details; `fields` by alias
    and by field name."""
    key = str(detail["loc"][0]) if detail["loc"] else ""
    field = fields.get(key)
    if field is None:
        return key, f"{key}: {detail['msg']}"
    name = field.alias or key
    shown = shown_value(detail.get("input"), secret="SecretStr" in repr(field.annotation))
    return name, f"{name} is {shown}: expected {expected_words(field, name)}"
