"""The largest amount the ledger can store: every money column of a payout event, a
calculation and a wallet credit is numeric(16, 2) (ledger/migrations). A plain constant,
so the engine and the settings (which must not import Polars) can both bound by it."""

from __future__ import annotations

from decimal import Decimal

LEDGER_AMOUNT_MAX = Decimal("99999999999999.99")
LEDGER_AMOUNT_MAX_MINOR = 9_999_999_999_999_999  # the same, in minor units (cents)
