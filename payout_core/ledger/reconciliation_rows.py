"""One iteration's reconciliation rows (SPEC §7, §9), read inside the summary job's
transaction: the remittance and confirmation files no email has reported yet (locked,
then marked reported by the same transaction), and the discrepancy rows for the
attachment. Rows only: flows/iteration_report.py turns them into the email's section."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class UnreportedReconciliation:
    remittance_run_ids: tuple[int, ...]
    confirmation_run_ids: tuple[int, ...]

    @property
    def is_empty(self) -> bool:
        return not self.remittance_run_ids and not self.confirmation_run_ids


def select_unreported(conn: psycopg.Connection) -> UnreportedReconciliation:
    remittance_run_ids = conn.execute(
        "SELECT remittance_run_id FROM remittance_runs WHERE reported_at IS NULL"
        " ORDER BY 1 FOR UPDATE"
    ).fetchall()
    confirmation_run_ids = conn.execute(
        "SELECT confirmation_run_id FROM confirmation_runs WHERE reported_at IS NULL"
        " ORDER BY 1 FOR UPDATE"
    ).fetchall()
    return UnreportedReconciliation(
        tuple(row[0] for row in remittance_run_ids),
        tuple(row[0] for row in confirmation_run_ids),
    )


def mark_reported(
    conn: psycopg.Connection, unreported: UnreportedReconciliation, iteration_number: int
) -> None:
    conn.execute(
        "UPDATE remittance_runs SET reported_at = now(), iteration_number = %s"
        " WHERE remittance_run_id = ANY(%s)",
        (iteration_number, list(unreported.remittance_run_ids)),
    )
    conn.execute(
        "UPDATE confirmation_runs SET reported_at = now(), iteration_number = %s"
        " WHERE confirmation_run_id = ANY(%s)",
        (iteration_number, list(unreported.confirmation_run_ids)),
    )


# Flow, File, RowNumber, SourceType, LeadOrCreditId, Reference, Amount, Outcome, Reason:
# the iteration's remittance rows that did not simply match, every lead over-received now,
# and the iteration's confirmation rows that failed or were not recorded.
DISCREPANCIES = """
SELECT 'money in' AS flow, r.remittance_file AS file, x.row_number, x.source_type,
       x.lead_id AS id, x.reference, x.amount::text AS amount, x.outcome, x.reason
FROM remittance_receipts x JOIN remittance_runs r USING (remittance_run_id)
WHERE x.remittance_run_id = ANY(%(remittance)s) AND x.outcome <> 'matched'
UNION ALL
SELECT 'money in', r.remittance_file, x.row_number, x.source_type, x.tracking_id, x.reference,
       x.amount_text, x.outcome, x.reason
FROM remittance_rejected_rows x JOIN remittance_runs r USING (remittance_run_id)
WHERE x.remittance_run_id = ANY(%(remittance)s)
UNION ALL
SELECT 'money in', NULL, NULL, source_type, lead_id, NULL, (-outstanding)::text,
       'over_received',
       format('payin %%s, received %%s: %%s received more than owed',
              expected_payin, received, -outstanding)
FROM over_received_leads
UNION ALL
SELECT 'money out', r.confirmation_file, c.row_number, NULL, c.credit_id, c.reference,
       w.amount::text, 'failed', coalesce(c.reason, 'failed, no reason given')
FROM wallet_confirmations c
JOIN confirmation_runs r USING (confirmation_run_id)
JOIN wallet_credits w USING (credit_id)
WHERE c.confirmation_run_id = ANY(%(confirmation)s) AND c.status = 'failed'
UNION ALL
SELECT 'money out', r.confirmation_file, x.row_number, NULL, x.credit_id, x.reference, NULL,
       x.outcome, x.reason
FROM confirmation_rejected_rows x JOIN confirmation_runs r USING (confirmation_run_id)
WHERE x.confirmation_run_id = ANY(%(confirmation)s)
"""


# The iteration's confirmation rows refused because their Reference already confirms
# another credit (one transfer cannot pay two credits).
REUSED_REFERENCES = """
SELECT count(*) FROM confirmation_rejected_rows x
WHERE x.confirmation_run_id = ANY(%(confirmation)s) AND x.outcome = 'invalid'
  AND EXISTS (SELECT 1 FROM wallet_confirmations c
              WHERE c.reference = x.reference AND c.status = 'success'
                AND c.credit_id <> x.credit_id)
"""


# The attachment holds what fits in its bytes; no more rows than this are ever read for it.
DISCREPANCY_ROWS_READ_MAX = 100_000


def discrepancy_rows(
    conn: psycopg.Connection, unreported: UnreportedReconciliation
) -> tuple[dict[str, int], int, list[tuple], int]:
    """(discrepancies per bank of money in, all discrepancies, the first
    DISCREPANCY_ROWS_READ_MAX discrepancy rows, confirmation rows refused for a reused
    Reference)."""
    parameters = {
        "remittance": list(unreported.remittance_run_ids),
        "confirmation": list(unreported.confirmation_run_ids),
    }
    # One evaluation of the discrepancies (they aggregate the whole ledger) for both counts.
    counts = conn.execute(
        f"SELECT flow, source_type, count(*) FROM ({DISCREPANCIES}) d GROUP BY flow, source_type",
        parameters,
    ).fetchall()
    per_bank = {source_type: count for flow, source_type, count in counts if flow == "money in"}
    rows = conn.execute(
        f"SELECT * FROM ({DISCREPANCIES}) d ORDER BY flow, file NULLS LAST, row_number, id"
        " LIMIT %(limit)s",
        parameters | {"limit": DISCREPANCY_ROWS_READ_MAX},
    ).fetchall()
    reused = conn.execute(REUSED_REFERENCES, parameters).fetchone()
    return (
        per_bank,
        sum(count for _, _, count in counts),
        rows,
        int(reused[0]) if reused else 0,
    )


def file_rows(conn: psycopg.Connection, kind: str, run_ids: tuple[int, ...]) -> list[tuple]:
    """(file, rows read, outcome counts, total received or null) per run of `kind`
    ('remittance' or 'confirmation')."""
    received = "total_received" if kind == "remittance" else "NULL::numeric"
    return conn.execute(
        f"SELECT {kind}_file, rows_read, outcome_counts, {received} FROM {kind}_runs"
        f" WHERE {kind}_run_id = ANY(%s) ORDER BY {kind}_run_id",
        (list(run_ids),),
    ).fetchall()
