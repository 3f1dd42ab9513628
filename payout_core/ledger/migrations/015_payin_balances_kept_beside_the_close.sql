-- What the banks owe (lead_payin_balances, 009) was brought up to date by the cycle close,
-- in its transaction, for the leads of the event batches it read: after a million-row file
-- that is 850,000 leads, 8 s of a first close that otherwise takes about 22 s, on the one
-- core the close's session uses. Kept apart, the summary brings it up to date on a second
-- connection while the close runs (flows/iteration.py), in its own transaction, with its
-- own bookkeeping of the batches whose leads' balances are kept. Until then, readers
-- compute those leads live, as they did for the batches no close had read.

CREATE TABLE payin_kept_batches (
    batch_id  bigint PRIMARY KEY REFERENCES event_batches
);
INSERT INTO payin_kept_batches (batch_id) SELECT batch_id FROM closed_event_batches;

CREATE OR REPLACE VIEW payin_pending_leads AS
SELECT DISTINCT e.lead_id
FROM event_batches b
JOIN payout_events e ON e.event_id BETWEEN b.first_event_id AND b.last_event_id
WHERE NOT EXISTS (SELECT 1 FROM payin_kept_batches k WHERE k.batch_id = b.batch_id);

-- The balances of the leads of every batch not kept yet, brought up to date; returns how
-- many batches. Under refresh_lead_payin_balances' lock, taken first: the batches are
-- chosen after any other keeper committed, so no batch is kept twice.
CREATE FUNCTION keep_payin_balances() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    kept integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('payout.payin_balances'));
    CREATE TEMP TABLE payin_batches_to_keep ON COMMIT DROP AS
    SELECT b.batch_id, b.first_event_id, b.last_event_id
    FROM event_batches b
    WHERE NOT EXISTS (SELECT 1 FROM payin_kept_batches k WHERE k.batch_id = b.batch_id);
    PERFORM refresh_lead_payin_balances(array(
        SELECT DISTINCT e.lead_id FROM payin_batches_to_keep b
        JOIN payout_events e ON e.event_id BETWEEN b.first_event_id AND b.last_event_id));
    INSERT INTO payin_kept_batches (batch_id) SELECT batch_id FROM payin_batches_to_keep;
    GET DIAGNOSTICS kept = ROW_COUNT;
    DROP TABLE payin_batches_to_keep;
    RETURN kept;
END;
$$;
