-- The cycle close read every decision ever taken (to find those no email reported) and
-- every wallet confirmation (to find the failed ones): both grow with every cycle. After
-- 20 cycles of 25,000 SPs, those three reads were most of what a 300-row tick cost more
-- on a ledger of 10 million events than on an empty one.

-- A decision records the transaction that wrote it, as a MIS run does (006): the next
-- iteration reads only the decisions at or past the last iteration's horizon (an index
-- range), less those reported. Decisions taken before this migration carry '0': the first
-- iteration after it reads them once more (reported_decisions leaves them out).
ALTER TABLE hold_decisions ADD COLUMN recorded_xact xid8 NOT NULL DEFAULT '0';
ALTER TABLE hold_decisions ALTER COLUMN recorded_xact SET DEFAULT pg_current_xact_id();
CREATE INDEX hold_decisions_recorded_xact ON hold_decisions (recorded_xact);

-- The failed confirmations (failed_credit_chains starts from them): few, however many
-- credits were confirmed.
CREATE INDEX wallet_confirmations_failed ON wallet_confirmations (credit_id)
    WHERE status = 'failed';
