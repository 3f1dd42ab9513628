-- SPEC §10: a lead's story and an SP's page read only that lead's or SP's rows, through
-- indexes, so they cost the same on a ledger of any size. The lead's events already have
-- the (lead, KPI, position) index; these add the SP's events, the credit that was sent
-- again for a failed one, and a cycle's events.
CREATE INDEX payout_events_by_sp ON payout_events (sp_id, event_id);
CREATE INDEX wallet_credits_replaces ON wallet_credits (replaces_credit_id)
    WHERE replaces_credit_id IS NOT NULL;
CREATE INDEX cycle_events_by_cycle ON cycle_events (cycle_number);
CREATE INDEX leads_by_sp ON leads (sp_id);

-- The SPs a cycle close carried over (their net was zero or less, or their credit could
-- not be written): with the cycle's credits, the SPs that get a statement for the cycle
-- (SPEC §10), found by cycle number instead of by scanning the events. Written by the
-- close, never changed.
CREATE TABLE cycle_carried_sps (
    cycle_number  integer NOT NULL REFERENCES payout_cycles,
    sp_id         text NOT NULL,
    amount        numeric(18, 2) NOT NULL,
    event_count   integer NOT NULL
);
CREATE INDEX cycle_carried_sps_by_cycle ON cycle_carried_sps (cycle_number, sp_id);
SELECT make_append_only('cycle_carried_sps');
