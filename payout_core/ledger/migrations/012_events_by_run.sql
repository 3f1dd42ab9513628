-- The iteration email sums the events each MIS file made (released, held, rejected), per
-- group and per bank (ledger/iteration_money.py): read by run, not by scanning the ledger.
-- 002's partial index covers only the later outcomes; this one covers the first payments.
CREATE INDEX IF NOT EXISTS payout_events_by_run ON payout_events (mis_run_id);
