-- The cycle close reads what is new, not the whole ledger (issue 23).
--
-- Until here the close found its candidates (released events in no cycle) by reading every
-- event ever written and its state: on a ledger of 280k events that was most of the close,
-- and it grew with every cycle. An event's cycle lives in cycle_events, so no index on
-- payout_events can say "not in a cycle yet". Instead the ledger keeps two small things:
--
-- * event_batches: each statement that appends events (a COPY of a file's events, a
--   recalculation's adjustments) records the range of event ids it drew, from triggers
--   below: one row per statement, whoever writes, nothing per event. A batch is read by
--   the first cycle close that sees it committed (closed_event_batches says which close).
-- * events_outside_cycles: the events a close looked at and left out of its cycle while
--   they may still be paid (held and undecided, approved too late, an SP carried). Each
--   close reads them again, with the batches no close has read, and nothing else.
--
-- So a close reads the new batches' events, the events left out before, and the state of
-- those events through the primary keys: what is new, whatever the ledger's age.

CREATE TABLE event_batches (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    first_event_id  bigint NOT NULL,   -- the ids drawn lie in [first, last]; the range may
    last_event_id   bigint NOT NULL,   -- also hold other writers' events (harmless)
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (last_event_id >= first_event_id)
);
SELECT make_append_only('event_batches');

CREATE TABLE closed_event_batches (
    batch_id      bigint PRIMARY KEY REFERENCES event_batches,
    cycle_number  integer NOT NULL REFERENCES payout_cycles
);
SELECT make_append_only('closed_event_batches');

-- Bookkeeping, not money: rewritten by each close (under the summary's advisory lock).
-- An event leaves it when a cycle pays it or a person rejects it; cycle_events and
-- hold_decisions stay the truth.
CREATE TABLE events_outside_cycles (
    event_id  bigint PRIMARY KEY
);

-- The range of ids a statement draws: the sequence's last value before it (every id it
-- draws is larger; inclusive, for a sequence never drawn from) and this session's last
-- value after it. Two statement triggers: no per-row cost on a million-row COPY.
CREATE FUNCTION note_event_batch_start() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('payout.event_batch_from',
                       (SELECT last_value FROM payout_events_event_id_seq)::text, true);
    RETURN NULL;
END;
$$;

CREATE FUNCTION record_event_batch() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    first_id bigint := nullif(current_setting('payout.event_batch_from', true), '')::bigint;
    last_id bigint;
BEGIN
    BEGIN
        last_id := currval('payout_events_event_id_seq');
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RETURN NULL;  -- this session never drew an id: the statement appended nothing
    END;
    IF first_id IS NOT NULL AND last_id >= first_id THEN
        INSERT INTO event_batches (first_event_id, last_event_id) VALUES (first_id, last_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER payout_events_batch_start
    BEFORE INSERT ON payout_events
    FOR EACH STATEMENT EXECUTE FUNCTION note_event_batch_start();
CREATE TRIGGER payout_events_batch_recorded
    AFTER INSERT ON payout_events
    FOR EACH STATEMENT EXECUTE FUNCTION record_event_batch();

-- The events of a ledger migrated with history: every one no cycle paid and no person
-- rejected is left out so far (one read of the ledger, once).
INSERT INTO events_outside_cycles (event_id)
SELECT s.event_id FROM payout_event_states s
WHERE s.cycle_number IS NULL AND s.effective_status <> 'rejected';
