-- Payout cycles, holds and maker-checker approval (SPEC §8).
--
-- An event's effective state (released, held, rejected; its cycle) is never written into
-- payout_events: it is derived from the append-only tables below, in ONE place, the view
-- payout_event_states. Every table here only grows; triggers refuse UPDATE, DELETE and
-- TRUNCATE, so a hold, a decision, a cycle or a credit, once committed, stays as it was.

-- An event put on hold after it was written: its SP's cycle total was over the limit when a
-- cycle closed (or a rule that applies at creation had not been applied then), or a wallet
-- credit failed too often (reconciliation). Events written with status = 'held' are held
-- as well, without a row here.
CREATE TABLE event_holds (
    event_id      bigint PRIMARY KEY REFERENCES payout_events,
    hold_reason   text NOT NULL CHECK (btrim(hold_reason) <> ''),
    held_at       timestamptz NOT NULL DEFAULT now(),
    cycle_number  integer   -- the cycle close that held it; null when held another way
);

-- The holds review reads held events without scanning the ledger: few are written held.
CREATE INDEX payout_events_written_held ON payout_events (event_id) WHERE status = 'held';

-- One decision per held event, by a named person (SPEC §8): the audit trail.
CREATE TABLE hold_decisions (
    decision_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         bigint NOT NULL UNIQUE REFERENCES payout_events,
    decision         text NOT NULL CHECK (decision IN ('approved', 'rejected')),
    decided_by       text NOT NULL CHECK (btrim(decided_by) <> ''),
    decided_at       timestamptz NOT NULL DEFAULT now(),
    decision_reason  text,
    CHECK (decision = 'approved' OR btrim(coalesce(decision_reason, '')) <> '')
);

-- The iteration email that reported a decision ("decided since the last email").
CREATE TABLE reported_decisions (
    decision_id       bigint PRIMARY KEY REFERENCES hold_decisions,
    iteration_number  integer NOT NULL
);

-- One row per closed cycle; cycle_number = the iteration_number of its email (no foreign
-- key: the iteration row is written after the cycle, in the same transaction).
CREATE TABLE payout_cycles (
    cycle_number  integer PRIMARY KEY,
    closed_at     timestamptz NOT NULL DEFAULT now()
);

-- One credit per SP per cycle for the wallet team to execute. credit_id is stable
-- ('CR-000012-0003': cycle 12, third credit) so confirmations can name it. A credit sent
-- again after a failure is a new row that names the one it replaces.
CREATE TABLE wallet_credits (
    credit_id           text PRIMARY KEY,
    cycle_number        integer NOT NULL REFERENCES payout_cycles,
    sp_id               text NOT NULL,
    amount              numeric(16, 2) NOT NULL CHECK (amount > 0),
    event_count         integer NOT NULL CHECK (event_count > 0),
    replaces_credit_id  text REFERENCES wallet_credits,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX wallet_credits_one_per_sp_and_cycle
    ON wallet_credits (cycle_number, sp_id) WHERE replaces_credit_id IS NULL;
CREATE INDEX wallet_credits_by_sp ON wallet_credits (sp_id);

-- Which cycle, and which credit of it, paid an event. The primary key is what makes
-- "no event is in two cycles" true whatever else goes wrong. No foreign keys, on purpose:
-- a cycle of a million events would spend 40 s in per-row FK triggers; the cycle close
-- checks instead, in one statement before anything is sent, that every event of the cycle
-- exists, is released and is counted in its credit (ledger/cycles.py).
CREATE TABLE cycle_events (
    event_id      bigint PRIMARY KEY,
    cycle_number  integer NOT NULL,
    credit_id     text NOT NULL
);
CREATE INDEX cycle_events_by_credit ON cycle_events (credit_id);

-- The credits CSV of a cycle published to the output container (retried until it is).
CREATE TABLE credit_files (
    cycle_number  integer PRIMARY KEY REFERENCES payout_cycles,
    blob_name     text NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    append_only_table text;
BEGIN
    FOREACH append_only_table IN ARRAY ARRAY['event_holds', 'hold_decisions',
            'reported_decisions', 'payout_cycles', 'wallet_credits', 'cycle_events',
            'credit_files']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION refuse_change_to_append_only()',
                       append_only_table || '_append_only', append_only_table);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION refuse_change_to_append_only()',
                       append_only_table || '_no_truncate', append_only_table);
    END LOOP;
END;
$$;

-- The why of an event written held (the rules of engine/holds.py; its limits are settings
-- of that moment, so the text names the rule, not the amount).
CREATE FUNCTION hold_reason_at_creation(kind text, payout_amount numeric) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN kind = 'adjustment' AND payout_amount < 0
                THEN 'negative adjustment: money taken back from the SP'
                ELSE 'payout above the per-event limit (PAYOUT_HOLD_EVENT_ABOVE)' END
$$;

-- The ONE place an event's effective status is computed:
--   rejected  a person rejected it: never paid;
--   released  written released and never held, or held and approved by a person;
--   held      written held, or held later, and not decided yet.
-- cycle_number / credit_id: the cycle and credit that paid it (null: not in a cycle yet).
CREATE VIEW payout_event_states AS
SELECT e.event_id, e.lead_id, e.sp_id, e.source_type, e.medium_type, e.product_type, e.kpi,
       e.kind, e.payin_amount, e.payout_amount, e.reason, e.mis_run_id, e.recalculation_id,
       e.rule_id, e.requested_by, e.status AS status_at_creation, e.created_at,
       CASE WHEN h.event_id IS NOT NULL THEN h.hold_reason
            WHEN e.status = 'held' THEN hold_reason_at_creation(e.kind, e.payout_amount)
       END AS hold_reason,
       CASE WHEN h.event_id IS NOT NULL THEN h.held_at
            WHEN e.status = 'held' THEN e.created_at
       END AS held_at,
       d.decision_id, d.decision, d.decided_by, d.decided_at, d.decision_reason,
       CASE WHEN d.decision = 'rejected' THEN 'rejected'
            WHEN d.decision = 'approved' THEN 'released'
            WHEN e.status = 'held' OR h.event_id IS NOT NULL THEN 'held'
            ELSE 'released'
       END AS effective_status,
       c.cycle_number, c.credit_id
FROM payout_events e
LEFT JOIN event_holds h ON h.event_id = e.event_id
LEFT JOIN hold_decisions d ON d.event_id = e.event_id
LEFT JOIN cycle_events c ON c.event_id = e.event_id;

-- A decision is taken on a held, undecided event, never by the person who asked for the
-- change that made it (maker-checker). Checked here as well as in the code, so no way in
-- (a script, a review page) can skip it.
CREATE FUNCTION check_hold_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event record;
BEGIN
    SELECT s.effective_status, s.requested_by INTO event
    FROM payout_event_states s WHERE s.event_id = NEW.event_id;
    IF NOT FOUND OR event.effective_status <> 'held' THEN
        RAISE EXCEPTION 'payout event % is not held: nothing to decide', NEW.event_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF lower(btrim(NEW.decided_by)) = lower(btrim(coalesce(event.requested_by, ''))) THEN
        RAISE EXCEPTION 'payout event %: % asked for it and cannot decide it (maker-checker)',
            NEW.event_id, NEW.decided_by
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER hold_decisions_checked
    BEFORE INSERT ON hold_decisions
    FOR EACH ROW EXECUTE FUNCTION check_hold_decision();

-- The final table sums only effectively released events (SPEC §5, §8): a held event counts
-- once approved, a rejected one never. Replaces 002's view, which read the status at
-- creation; 002's refresh_calculations reads it unchanged. Same columns as payout_events.
CREATE OR REPLACE VIEW released_payout_events AS
SELECT e.*
FROM payout_events e
JOIN payout_event_states s ON s.event_id = e.event_id
WHERE s.effective_status = 'released';
