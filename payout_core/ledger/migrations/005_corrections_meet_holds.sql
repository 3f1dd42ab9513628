-- Corrections that meet held or rejected events (SPEC §8, v3).
--
-- Before this migration an adjustment was measured against the sum of EVERY event of its
-- KPI, held and rejected ones included: a correction arriving while a clawback waited was
-- released on top of it (paying twice when the clawback was later waived), a rejected KPI
-- kept being adjusted, and the payin a bank owes followed the holds. From here:
--
-- * the payout side of a KPI is measured from what was released plus what waits for a
--   decision; everything that waits for one KPI of one lead is decided together;
-- * a KPI whose earned event was rejected is worth 0 to the SP for good: later events of
--   it carry the bank's payin only and are written 'rejected';
-- * the payin side always follows the bank's latest facts: every event's payin counts in
--   what the bank owes, whatever its state;
-- * each event records the KPI's worth after it (the facts it was computed from), so the
--   release invariant can be checked: per lead and KPI, what has been released never
--   exceeds the larger of its worth now and what the SP kept when a clawback was waived.

-- The KPI's worth after this event, under the facts and rule that made it. Null on earned
-- events (their amounts are their worth) and on events written before this migration.
ALTER TABLE payout_events
    ADD COLUMN payin_worth_amount numeric(16, 2),
    ADD COLUMN payout_worth_amount numeric(16, 2),
    -- Why the event was written held, in the words decided when it was written (the
    -- engine's hold rule, or "decided together with ..."); null when written released.
    ADD COLUMN hold_reason text;

-- 'rejected' at creation: an event of a KPI whose earned event a person rejected. It
-- records the bank's corrected payin; its payout is 0 and it is never paid.
ALTER TABLE payout_events DROP CONSTRAINT payout_events_status_check;
ALTER TABLE payout_events ADD CONSTRAINT payout_events_status_check
    CHECK (status IN ('released', 'held', 'rejected'));
ALTER TABLE payout_events ADD CONSTRAINT payout_events_rejected_pays_nothing
    CHECK (status <> 'rejected' OR payout_amount = 0);
ALTER TABLE payout_events ADD CONSTRAINT payout_events_held_says_why
    CHECK (status <> 'held' OR hold_reason IS NOT NULL) NOT VALID;  -- older rows: the view's text

-- Names as people read them: who decided, and who asked for a recalculation, never carry
-- control or invisible characters (a zero-width space makes 'Alice' and 'Alice\u200b' look
-- the same and compare different). Older rows are not re-checked.
CREATE FUNCTION is_readable_name(name text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT name IS NOT NULL AND btrim(name) <> ''
       AND name !~ '[[:cntrl:]\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]'
$$;
ALTER TABLE hold_decisions ADD CONSTRAINT hold_decisions_readable_name
    CHECK (is_readable_name(decided_by)) NOT VALID;
ALTER TABLE recalculations ADD CONSTRAINT recalculations_names_a_maker
    CHECK (is_readable_name(requested_by)) NOT VALID;

-- Two names are the same person when they read the same: Unicode NFKC, case folded,
-- surrounding and repeated spaces ignored (engine/people.py is the same rule).
CREATE FUNCTION person_key(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    spaced text := lower(regexp_replace(btrim(coalesce(name, '')), '\s+', ' ', 'g'));
BEGIN
    IF current_setting('server_encoding') = 'UTF8' THEN
        RETURN lower(normalize(spaced, NFKC));
    END IF;
    RETURN spaced;
END;
$$;

-- The effective state, as in 003, plus: 'rejected' at creation; the reason decided when
-- the event was written (older rows: 003's text); the KPI position and worth.
CREATE OR REPLACE VIEW payout_event_states AS
SELECT e.event_id, e.lead_id, e.sp_id, e.source_type, e.medium_type, e.product_type, e.kpi,
       e.kind, e.payin_amount, e.payout_amount, e.reason, e.mis_run_id, e.recalculation_id,
       e.rule_id, e.requested_by, e.status AS status_at_creation, e.created_at,
       CASE WHEN h.event_id IS NOT NULL THEN h.hold_reason
            WHEN e.status = 'held' THEN coalesce(e.hold_reason,
                                                 hold_reason_at_creation(e.kind, e.payout_amount))
       END AS hold_reason,
       CASE WHEN h.event_id IS NOT NULL THEN h.held_at
            WHEN e.status = 'held' THEN e.created_at
       END AS held_at,
       d.decision_id, d.decision, d.decided_by, d.decided_at, d.decision_reason,
       CASE WHEN e.status = 'rejected' THEN 'rejected'
            WHEN d.decision = 'rejected' THEN 'rejected'
            WHEN d.decision = 'approved' THEN 'released'
            WHEN e.status = 'held' OR h.event_id IS NOT NULL THEN 'held'
            ELSE 'released'
       END AS effective_status,
       c.cycle_number, c.credit_id,
       e.kpi_sequence, e.payin_worth_amount, e.payout_worth_amount
FROM payout_events e
LEFT JOIN event_holds h ON h.event_id = e.event_id
LEFT JOIN hold_decisions d ON d.event_id = e.event_id
LEFT JOIN cycle_events c ON c.event_id = e.event_id;

-- What the bank owes: the payin of every event, whatever its state (SPEC §8: the payin
-- follows the bank's facts, not the holds).
CREATE OR REPLACE VIEW payin_events AS
SELECT lead_id, payin_amount, created_at FROM payout_events;

-- Where each KPI of these leads stands: what a later MIS row or a recalculation is weighed
-- against. A function, not a view, so that the leads are chosen before the GROUP BY, on the
-- (lead, KPI, position) index, however large the ledger (a view joined to a list of leads
-- is aggregated whole first). latest_payout_worth_amount is the worth the ledger last
-- recorded (null: an adjustment written before 005, whose worth was not kept).
CREATE FUNCTION lead_kpi_balances(lead_ids text[])
RETURNS TABLE (lead_id text, kpi text, payin_total_amount numeric,
               released_payout_amount numeric, pending_payout_amount numeric,
               pending_event_ids text, kpi_rejected boolean, last_sequence integer,
               latest_payout_worth_amount numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.lead_id, s.kpi,
           sum(s.payin_amount),
           coalesce(sum(s.payout_amount) FILTER (WHERE s.effective_status = 'released'), 0),
           coalesce(sum(s.payout_amount) FILTER (WHERE s.effective_status = 'held'), 0),
           string_agg(s.event_id::text, ', ' ORDER BY s.event_id)
               FILTER (WHERE s.effective_status = 'held'),
           coalesce(bool_or(s.kind = 'earned' AND s.effective_status = 'rejected'), false),
           max(s.kpi_sequence),
           (array_agg(coalesce(s.payout_worth_amount,
                               CASE WHEN s.kind = 'earned' THEN s.payout_amount END)
                      ORDER BY s.kpi_sequence DESC))[1]
    FROM payout_event_states s
    WHERE s.lead_id = ANY(lead_ids)
    GROUP BY s.lead_id, s.kpi
$$;

DROP VIEW lead_kpi_paid;

-- The release invariant (SPEC §8), for a set of leads: every (lead, KPI) whose released
-- payout, net of the clawbacks already asked for (held, not decided yet), exceeds both its
-- worth now (0 once its earned event is rejected) and what the SP kept when a clawback was
-- waived (what had been released of the events before that clawback). Empty when the ledger
-- is right; checked before a file, a recalculation or a decision commits.
CREATE FUNCTION kpi_release_violations(lead_ids text[])
RETURNS TABLE (lead_id text, kpi text, released_payout numeric, worth_payout numeric,
               kept_payout numeric)
LANGUAGE sql STABLE AS $$
    WITH events AS (
        SELECT s.* FROM payout_event_states s WHERE s.lead_id = ANY(lead_ids)
    ), per_kpi AS (
        SELECT e.lead_id, e.kpi,
               coalesce(sum(e.payout_amount) FILTER (WHERE e.effective_status = 'released'
                             OR (e.effective_status = 'held' AND e.payout_amount < 0)), 0)
                   AS exposed,
               CASE WHEN bool_or(e.kind = 'earned' AND e.effective_status = 'rejected') THEN 0
                    ELSE coalesce(
                        (array_agg(coalesce(e.payout_worth_amount,
                                            CASE WHEN e.kind = 'earned' THEN e.payout_amount END)
                                   ORDER BY e.kpi_sequence DESC))[1],
                        sum(e.payout_amount))  -- before 005 every event applied
               END AS worth
        FROM events e
        GROUP BY e.lead_id, e.kpi
    ), kept AS (
        SELECT r.lead_id, r.kpi,
               max((SELECT coalesce(sum(k.payout_amount), 0) FROM events k
                    WHERE k.lead_id = r.lead_id AND k.kpi = r.kpi
                      AND k.effective_status = 'released' AND k.event_id < r.event_id))
                   AS kept
        FROM events r
        WHERE r.decision = 'rejected' AND r.payout_amount < 0
        GROUP BY r.lead_id, r.kpi
    )
    SELECT p.lead_id, p.kpi, p.exposed, p.worth, coalesce(k.kept, 0)
    FROM per_kpi p
    LEFT JOIN kept k ON k.lead_id = p.lead_id AND k.kpi = p.kpi
    WHERE p.exposed > greatest(p.worth, coalesce(k.kept, 0))
$$;

-- The decision check of 003, with names compared as people read them, and no approval
-- for a KPI whose earned event was rejected (nothing more is paid for it).
CREATE OR REPLACE FUNCTION check_hold_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event record;
BEGIN
    SELECT s.effective_status, s.requested_by, s.lead_id, s.kpi INTO event
    FROM payout_event_states s WHERE s.event_id = NEW.event_id;
    IF NOT FOUND OR event.effective_status <> 'held' THEN
        RAISE EXCEPTION 'payout event % is not held: nothing to decide', NEW.event_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF person_key(NEW.decided_by) = person_key(event.requested_by) THEN
        RAISE EXCEPTION 'payout event %: % asked for it and cannot decide it (maker-checker)',
            NEW.event_id, NEW.decided_by
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.decision = 'approved' AND EXISTS (
        SELECT 1 FROM payout_event_states r
        WHERE r.lead_id = event.lead_id AND r.kpi = event.kpi AND r.kind = 'earned'
          AND r.effective_status = 'rejected'
    ) THEN
        RAISE EXCEPTION 'payout event %: % of lead % was rejected, nothing more is paid for it',
            NEW.event_id, event.kpi, event.lead_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
