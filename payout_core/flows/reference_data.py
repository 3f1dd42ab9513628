"""Loading ShiftPay's reference data: the leads export (SPEC §3.3) and the payin/payout
rules file (SPEC §3.2), each read by the engine and written as one unit of work."""

from __future__ import annotations

from pathlib import Path

from payout_core.adapters.local_files import sha256_of_file
from payout_core.engine import rules
from payout_core.engine.leads import read_leads_file
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import leads as leads_ledger
from payout_core.ledger import rules as rules_ledger


def load_leads_file(context: Context, path: Path) -> str:
    """Load the export; the summary lists every change refused, one per line."""
    leads = read_leads_file(path)
    with context.unit_of_work() as uow:
        loaded = leads_ledger.load_leads(uow.conn, leads)
        uow.commit()
    summary = (
        f"leads: {leads.height} rows from {path}: {loaded.inserted} new, {loaded.updated} updated"
    )
    if loaded.refused_changes:
        summary += (
            f"; {len(loaded.refused_changes)} change(s) refused: a lead already paid keeps "
            "its SP, bank, channel and product, and stays Success:"
        )
        summary += "".join(f"\n  {change.describe()}" for change in loaded.refused_changes)
    return summary


def load_rules_file(context: Context, path: Path) -> str:
    """The file becomes the new version in force (or stays, when it is the same)."""
    loaded = rules.parse_rules_file(path)
    with context.unit_of_work() as uow:
        summary = rules_ledger.load_rules(uow.conn, loaded, str(path), sha256_of_file(path))
        uow.commit()
    return summary
