-- mis_runs is the provenance of every MIS file (which file made which event) and the
-- re-delivery guard: append-only like the events, enforced by triggers. A run is written
-- once, whole, when its file is recorded (its id is reserved from the sequence when the file
-- starts, for the events that name it); "reported by iteration N" is a row of its own in
-- reported_mis_runs, as reported_decisions is for decisions.

CREATE TABLE reported_mis_runs (
    mis_run_id        bigint PRIMARY KEY REFERENCES mis_runs,
    iteration_number  integer NOT NULL,
    reported_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO reported_mis_runs (mis_run_id, iteration_number, reported_at)
SELECT mis_run_id, iteration_number, reported_at
FROM mis_runs
WHERE reported_at IS NOT NULL;

-- The iteration email reads the runs no email reported without scanning every run ever
-- recorded: a run records the transaction that wrote it, and each iteration the oldest
-- transaction still running when it read the runs (its horizon). A run written by an older
-- transaction had committed by then, so that iteration (or an earlier one) reported it;
-- the next iteration reads only runs at or past that horizon (an index range).
ALTER TABLE mis_runs ADD COLUMN recorded_xact xid8 NOT NULL DEFAULT '0';
ALTER TABLE mis_runs ALTER COLUMN recorded_xact SET DEFAULT pg_current_xact_id();
CREATE INDEX mis_runs_recorded_xact ON mis_runs (recorded_xact);
ALTER TABLE iterations ADD COLUMN mis_runs_horizon xid8;

DROP INDEX mis_runs_unreported;
ALTER TABLE mis_runs
    DROP COLUMN reported_at,
    DROP COLUMN iteration_number,
    -- A file's totals: up to millions of rows of amounts of up to 10 digits.
    ALTER COLUMN total_payin TYPE numeric(24, 2),
    ALTER COLUMN total_payout TYPE numeric(24, 2);

-- Re-delivery is the same blob (name and content); the email flags a new name with the
-- content of an earlier file.
CREATE INDEX mis_runs_content ON mis_runs (content_sha256);

-- Triggers that refuse UPDATE, DELETE and TRUNCATE (refuse_change_to_append_only() is
-- 002's), for any table a later migration makes append-only too.
CREATE FUNCTION make_append_only(append_only_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = append_only_table);
BEGIN
    EXECUTE format(
        'CREATE TRIGGER %1$I BEFORE UPDATE OR DELETE ON %3$s FOR EACH ROW '
        '    EXECUTE FUNCTION refuse_change_to_append_only(); '
        'CREATE TRIGGER %2$I BEFORE TRUNCATE ON %3$s FOR EACH STATEMENT '
        '    EXECUTE FUNCTION refuse_change_to_append_only()',
        name || '_append_only', name || '_no_truncate', append_only_table);
END;
$$;
SELECT make_append_only('mis_runs');
SELECT make_append_only('reported_mis_runs');

-- A success's wallet Reference is looked up to refuse a second credit confirmed with it.
CREATE INDEX wallet_confirmations_reference ON wallet_confirmations (reference)
    WHERE status = 'success';
