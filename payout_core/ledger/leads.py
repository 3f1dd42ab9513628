"""The leads table (SPEC §3.3): a reload of ShiftPay's export, upserted by LeadId."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import psycopg

from payout_core.ledger.copying import copy_frame

# SPEC §3.3: a reload never moves a lead out of Success, never blanks a stored value with an
# empty cell (blank cells arrive as NULL), and never changes the SPId, SourceType,
# MediumType or ProductType of a lead that has payout events: that lead keeps the SP it
# was paid to and the bank and product its money was computed for (REFUSED_CHANGES lists
# each refused change), since moving it would re-attribute money already paid and send
# its corrections and receivables to the wrong bank. One probe of its events per lead.
UPSERT_LEADS = """
WITH upserted AS (
    INSERT INTO leads AS l (lead_created_at, sp_id, lead_id, source_type, medium_type,
                            product_type, status, sub_status)
    SELECT lead_created_at, sp_id, lead_id, source_type, medium_type, product_type,
           status, sub_status
    FROM leads_incoming
    ON CONFLICT (lead_id) DO UPDATE SET
        lead_created_at = coalesce(EXCLUDED.lead_created_at, l.lead_created_at),
        (sp_id, source_type, medium_type, product_type) = (
            SELECT CASE WHEN p.paid THEN l.sp_id ELSE coalesce(EXCLUDED.sp_id, l.sp_id) END,
                   CASE WHEN p.paid THEN l.source_type
                        ELSE coalesce(EXCLUDED.source_type, l.source_type) END,
                   CASE WHEN p.paid THEN l.medium_type
                        ELSE coalesce(EXCLUDED.medium_type, l.medium_type) END,
                   CASE WHEN p.paid THEN l.product_type
                        ELSE coalesce(EXCLUDED.product_type, l.product_type) END
            FROM (SELECT EXISTS (SELECT 1 FROM payout_events e WHERE e.lead_id = l.lead_id)
                         AS paid) p
        ),
        -- A stale export must never move a paid lead back out of Success.
        status = CASE WHEN l.status = 'Success' THEN l.status
                      ELSE coalesce(EXCLUDED.status, l.status) END,
        sub_status = CASE WHEN l.status = 'Success' THEN l.sub_status
                          ELSE coalesce(EXCLUDED.sub_status, l.sub_status) END,
        updated_at = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""
# What the upsert will refuse to change, per lead and column (LeadId, column, value kept,
# value the export said): only leads whose export differs are looked at further.
REFUSED_CHANGES = """
SELECT i.lead_id, v.name, v.kept, v.said
FROM leads_incoming i
JOIN leads l ON l.lead_id = i.lead_id
CROSS JOIN LATERAL (VALUES
    (1, 'SPId', l.sp_id, i.sp_id, false),
    (2, 'SourceType', l.source_type, i.source_type, false),
    (3, 'MediumType', l.medium_type, i.medium_type, false),
    (4, 'ProductType', l.product_type, i.product_type, false),
    (5, 'Status', l.status, i.status, true),
    (6, 'SubStatus', l.sub_status, i.sub_status, true)
) AS v (position, name, kept, said, kept_once_success)
WHERE (l.sp_id, l.source_type, l.medium_type, l.product_type, l.status, l.sub_status)
      IS DISTINCT FROM (coalesce(i.sp_id, l.sp_id), coalesce(i.source_type, l.source_type),
                        coalesce(i.medium_type, l.medium_type),
                        coalesce(i.product_type, l.product_type), coalesce(i.status, l.status),
                        coalesce(i.sub_status, l.sub_status))
  AND v.said IS NOT NULL AND v.said IS DISTINCT FROM v.kept
  AND CASE WHEN v.kept_once_success THEN l.status = 'Success'
           ELSE EXISTS (SELECT 1 FROM payout_events e WHERE e.lead_id = l.lead_id) END
ORDER BY i.lead_id, v.position
"""


@dataclass(frozen=True)
class RefusedChange:
    """A change an export asked for and the reload refused (the lead is paid)."""

    lead_id: str
    column: str
    kept: str | None
    said: str

    def describe(self) -> str:
        if self.column == "SPId":
            return f"{self.lead_id} stays with {self.kept} (export: {self.said})"
        return f"{self.lead_id} {self.column} stays {self.kept or '(blank)'} (export: {self.said})"


@dataclass(frozen=True)
class LeadsLoaded:
    inserted: int
    updated: int
    refused_changes: list[RefusedChange]

    @property
    def kept_sp_ids(self) -> list[tuple[str, str | None, str]]:
        """(LeadId, SPId kept, SPId the export said) of leads with payout events."""
        return [
            (change.lead_id, change.kept, change.said)
            for change in self.refused_changes
            if change.column == "SPId"
        ]


def load_leads(conn: psycopg.Connection, leads: pl.DataFrame) -> LeadsLoaded:
    """Upsert by LeadId in one transaction (engine/leads.py reads the file)."""
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE leads_incoming (LIKE leads INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        copy_frame(
            cursor,
            "leads_incoming",
            leads.with_columns(pl.col("lead_created_at").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")),
        )
        # Its real size, not a guess from an unanalyzed table: a reload of a few leads then
        # checks their payout events through the index instead of scanning the ledger.
        cursor.execute("ANALYZE leads_incoming")
        refused = [RefusedChange(*row) for row in cursor.execute(REFUSED_CHANGES).fetchall()]
        inserted, updated = cursor.execute(UPSERT_LEADS).fetchone()
    return LeadsLoaded(int(inserted), int(updated), refused)
