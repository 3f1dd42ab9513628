-- SPEC §10: a lead's story and an SP's page read only that lead's or SP's rows, through
-- indexes, so they cost the same on a ledger of any size. The lead's events already have
-- the (lead, KPI, position) index; these add the SP's events, the credit that was sent
-- again for a failed one, and a cycle's events.
CREATE INDEX payout_events_by_sp ON payout_events (sp_id, event_id);
CREATE INDEX wallet_credits_replaces ON wallet_credits (replaces_credit_id)
    WHERE replaces_credit_id IS NOT NULL;
CREATE INDEX cycle_events_by_cycle ON cycle_events (cycle_number);
CREATE INDEX leads_by_sp ON leads (sp_id);
