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
-- value after it. Two statement triggers: no per-row cost on a million-row COPY. This holds
-- while the sequence hands out one id at a time (CACHE 1, the default): with a cache, a
-- session could draw ids below the sequence's last value from a block it fetched earlier.
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

-- --- Receivables kept up to date (SPEC §9) --------------------------------------------
--
-- lead_receivables (004) aggregates every event and every receipt of the ledger on each
-- read: the iteration email read it twice. What a lead's bank owes and has paid is kept
-- instead, per lead and per bank, by whoever changes it: a cycle close for the leads of
-- the event batches it reads (not the MIS file's transaction: a million-row file would pay
-- for it), a remittance file for its leads (a trigger), a leads reload for a lead whose
-- bank changed or that a receipt named before it existed (triggers). A lead's row is
-- recomputed from its events and receipts, never added to, so recomputing twice is
-- harmless; the bank's totals move by the difference. The leads of batches no close has
-- read yet are computed live by the readers (payin_totals_now, over_received_leads).

CREATE TABLE lead_payin_balances (
    lead_id          text PRIMARY KEY,
    source_type      text NOT NULL,
    expected_payin   numeric(18, 2) NOT NULL,
    received         numeric(18, 2) NOT NULL,
    counted          boolean NOT NULL,  -- has events or a receipt from its bank: lead_receivables has it
    date_of_revenue  date               -- what its age counts from (lead_receivables' rule)
);
-- The over-received leads (the email lists each one): few, however old the ledger.
CREATE INDEX lead_payin_balances_over_received ON lead_payin_balances (lead_id)
    WHERE received > expected_payin;

-- Per bank and DateOfRevenue: the sums of what its leads are expected to pay and paid, of
-- what is outstanding (lead by lead, > 0) and over-received (< 0), and how many leads. A
-- report by age reads a row per bank and day, never a row per lead.
CREATE TABLE payin_totals (
    source_type          text NOT NULL,
    date_of_revenue      date,
    expected_payin       numeric(24, 2) NOT NULL,
    received             numeric(24, 2) NOT NULL,
    outstanding          numeric(24, 2) NOT NULL,
    over_received        numeric(24, 2) NOT NULL,
    lead_count           bigint NOT NULL,   -- counted leads: a bank with none is not shown
    leads_outstanding    bigint NOT NULL,
    leads_over_received  bigint NOT NULL,
    UNIQUE NULLS NOT DISTINCT (source_type, date_of_revenue)
);

-- These leads' payin as lead_receivables (004, 005) computes it, from the source tables
-- (the readers' few pending leads; refresh_lead_payin_balances below is the same, in bulk).
CREATE FUNCTION lead_payin_balances_of(lead_ids text[])
RETURNS TABLE (lead_id text, source_type text, expected_payin numeric, received numeric,
               counted boolean, date_of_revenue date)
LANGUAGE sql STABLE AS $$
    WITH wanted AS (SELECT DISTINCT unnest(lead_ids) AS lead_id),
    expected AS (
        SELECT e.lead_id, sum(e.payin_amount) AS expected_payin,
               min(e.created_at) AS first_event_at
        FROM payout_events e JOIN wanted w ON w.lead_id = e.lead_id
        GROUP BY e.lead_id
    ), received AS (
        SELECT r.lead_id, sum(r.amount) AS received
        FROM remittance_receipts r JOIN wanted w ON w.lead_id = r.lead_id
        JOIN leads l ON l.lead_id = r.lead_id AND l.source_type = r.source_type
        GROUP BY r.lead_id
    )
    SELECT l.lead_id, l.source_type, coalesce(e.expected_payin, 0), coalesce(r.received, 0),
           e.lead_id IS NOT NULL OR r.lead_id IS NOT NULL,
           coalesce(c.date_of_revenue, (e.first_event_at AT TIME ZONE 'UTC')::date)
    FROM wanted w
    JOIN leads l ON l.lead_id = w.lead_id
    LEFT JOIN expected e ON e.lead_id = w.lead_id
    LEFT JOIN received r ON r.lead_id = w.lead_id
    LEFT JOIN payout_calculations c ON c.lead_id = w.lead_id
$$;

-- What lead rows add to payin_totals (sign -1: what they take away), per bank and day.
CREATE FUNCTION payin_totals_delta(sign integer, b lead_payin_balances)
RETURNS TABLE (expected_payin numeric, received numeric, outstanding numeric,
               over_received numeric, lead_count integer, leads_outstanding integer,
               leads_over_received integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT sign * b.expected_payin, sign * b.received,
           sign * greatest(b.expected_payin - b.received, 0),
           sign * greatest(b.received - b.expected_payin, 0),
           sign * b.counted::int, sign * (b.expected_payin > b.received)::int,
           sign * (b.received > b.expected_payin)::int
$$;
-- Recompute these leads' rows and move their banks' totals by the difference. One writer at
-- a time (an advisory lock held to the commit; its statements read after taking it), so two
-- writers never both add a difference measured from the same old row.
CREATE FUNCTION refresh_lead_payin_balances(lead_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(lead_ids), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('payout.payin_balances'));
    -- Temporary tables, analyzed: a first close after a million-row file refreshes a
    -- million leads, and hash joins them where a dozen leads take index probes.
    CREATE TEMP TABLE IF NOT EXISTS payin_balances_wanted (lead_id text) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS payin_balances_fresh (LIKE lead_payin_balances)
        ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS payin_balances_old (LIKE lead_payin_balances)
        ON COMMIT DROP;
    TRUNCATE payin_balances_wanted, payin_balances_fresh, payin_balances_old;
    INSERT INTO payin_balances_wanted SELECT DISTINCT unnest(lead_ids);
    ANALYZE payin_balances_wanted;
    INSERT INTO payin_balances_fresh
    WITH expected AS (
        SELECT e.lead_id, sum(e.payin_amount) AS expected_payin,
               min(e.created_at) AS first_event_at
        FROM payout_events e JOIN payin_balances_wanted w ON w.lead_id = e.lead_id
        GROUP BY e.lead_id
    ), received AS (
        SELECT r.lead_id, sum(r.amount) AS received
        FROM remittance_receipts r JOIN payin_balances_wanted w ON w.lead_id = r.lead_id
        JOIN leads l ON l.lead_id = r.lead_id AND l.source_type = r.source_type
        GROUP BY r.lead_id
    )
    SELECT l.lead_id, l.source_type, coalesce(e.expected_payin, 0), coalesce(r.received, 0),
           e.lead_id IS NOT NULL OR r.lead_id IS NOT NULL,
           coalesce(c.date_of_revenue, (e.first_event_at AT TIME ZONE 'UTC')::date)
    FROM payin_balances_wanted w
    JOIN leads l ON l.lead_id = w.lead_id
    LEFT JOIN expected e ON e.lead_id = w.lead_id
    LEFT JOIN received r ON r.lead_id = w.lead_id
    LEFT JOIN payout_calculations c ON c.lead_id = w.lead_id;
    ANALYZE payin_balances_fresh;
    INSERT INTO payin_balances_old
    SELECT b.* FROM lead_payin_balances b JOIN payin_balances_wanted w ON w.lead_id = b.lead_id;
    INSERT INTO payin_totals AS t
    SELECT r.source_type, r.date_of_revenue, sum(d.expected_payin), sum(d.received),
           sum(d.outstanding), sum(d.over_received), sum(d.lead_count),
           sum(d.leads_outstanding), sum(d.leads_over_received)
    FROM (SELECT 1 AS sign, ROW(f.*)::lead_payin_balances AS row FROM payin_balances_fresh f
          UNION ALL
          SELECT -1, ROW(o.*)::lead_payin_balances FROM payin_balances_old o) x
    CROSS JOIN LATERAL payin_totals_delta(x.sign, x.row) d
    CROSS JOIN LATERAL (SELECT (x.row).source_type, (x.row).date_of_revenue) r
    GROUP BY r.source_type, r.date_of_revenue
    ON CONFLICT (source_type, date_of_revenue) DO UPDATE SET
        expected_payin = t.expected_payin + EXCLUDED.expected_payin,
        received = t.received + EXCLUDED.received,
        outstanding = t.outstanding + EXCLUDED.outstanding,
        over_received = t.over_received + EXCLUDED.over_received,
        lead_count = t.lead_count + EXCLUDED.lead_count,
        leads_outstanding = t.leads_outstanding + EXCLUDED.leads_outstanding,
        leads_over_received = t.leads_over_received + EXCLUDED.leads_over_received;
    -- An UPDATE of the rows there are and a plain INSERT of the others (under the lock,
    -- nobody adds one meanwhile): a first close after a million-row file inserts most of
    -- them, and ON CONFLICT would insert each one speculatively.
    UPDATE lead_payin_balances b
    SET source_type = f.source_type, expected_payin = f.expected_payin,
        received = f.received, counted = f.counted, date_of_revenue = f.date_of_revenue
    FROM payin_balances_fresh f
    WHERE b.lead_id = f.lead_id
      AND (b.source_type, b.expected_payin, b.received, b.counted, b.date_of_revenue)
          IS DISTINCT FROM (f.source_type, f.expected_payin, f.received, f.counted,
                            f.date_of_revenue);
    INSERT INTO lead_payin_balances
    SELECT f.* FROM payin_balances_fresh f
    WHERE NOT EXISTS (SELECT 1 FROM payin_balances_old o WHERE o.lead_id = f.lead_id);
END;
$$;

CREATE FUNCTION refresh_payin_balances_of_new_receipts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_lead_payin_balances(array(SELECT DISTINCT lead_id FROM new_receipts));
    RETURN NULL;
END;
$$;
CREATE TRIGGER remittance_receipts_payin_balances
    AFTER INSERT ON remittance_receipts REFERENCING NEW TABLE AS new_receipts
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_payin_balances_of_new_receipts();

-- A lead's bank decides which receipts count for it: a reload that changes it (only a lead
-- without events may change bank, SPEC §3.3), or a lead that arrives after a receipt named
-- it. (The statement trigger on a 1M-lead insert measured 3.9-4.2 s against 3.8-3.9 s.)
CREATE FUNCTION refresh_payin_balance_of_lead() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_lead_payin_balances(ARRAY[NEW.lead_id]);
    RETURN NULL;
END;
$$;
CREATE TRIGGER leads_bank_changed_payin_balance
    AFTER UPDATE OF source_type ON leads FOR EACH ROW
    WHEN (OLD.source_type IS DISTINCT FROM NEW.source_type)
    EXECUTE FUNCTION refresh_payin_balance_of_lead();
CREATE FUNCTION refresh_payin_balances_of_new_leads() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM remittance_receipts) THEN
        PERFORM refresh_lead_payin_balances(array(
            SELECT DISTINCT r.lead_id FROM new_leads n
            JOIN remittance_receipts r ON r.lead_id = n.lead_id));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER leads_named_by_receipts_payin_balance
    AFTER INSERT ON leads REFERENCING NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_payin_balances_of_new_leads();

-- The leads of event batches no close has read yet: the readers compute them live.
CREATE VIEW payin_pending_leads AS
SELECT DISTINCT e.lead_id
FROM event_batches b
JOIN payout_events e ON e.event_id BETWEEN b.first_event_id AND b.last_event_id
WHERE NOT EXISTS (SELECT 1 FROM closed_event_batches c WHERE c.batch_id = b.batch_id);

-- The totals per bank and DateOfRevenue as they are now: the kept ones, with the pending
-- leads' kept rows swapped for their live ones.
CREATE VIEW payin_totals_now AS
WITH pending AS (SELECT array(SELECT lead_id FROM payin_pending_leads) AS lead_ids),
swapped AS (
    SELECT -1 AS sign, b AS row
    FROM pending p JOIN lead_payin_balances b ON b.lead_id = ANY(p.lead_ids)
    UNION ALL
    SELECT 1, ROW(f.lead_id, f.source_type, f.expected_payin, f.received, f.counted,
                  f.date_of_revenue)::lead_payin_balances
    FROM pending p, lead_payin_balances_of(p.lead_ids) f
), moves AS (
    SELECT t.* FROM payin_totals t
    UNION ALL
    SELECT (s.row).source_type, (s.row).date_of_revenue, d.*
    FROM swapped s CROSS JOIN LATERAL payin_totals_delta(s.sign, s.row) d
)
SELECT source_type, date_of_revenue, sum(expected_payin) AS expected_payin,
       sum(received) AS received, sum(outstanding) AS outstanding,
       sum(over_received) AS over_received, sum(lead_count) AS lead_count,
       sum(leads_outstanding) AS leads_outstanding,
       sum(leads_over_received) AS leads_over_received
FROM moves GROUP BY source_type, date_of_revenue;

-- The over-received leads now, with lead_receivables' columns: the kept rows through
-- their partial index, and the pending leads live.
CREATE VIEW over_received_leads AS
WITH pending AS (SELECT array(SELECT lead_id FROM payin_pending_leads) AS lead_ids)
SELECT b.lead_id, b.source_type, b.expected_payin, b.received,
       b.expected_payin - b.received AS outstanding, b.date_of_revenue
FROM lead_payin_balances b, pending p
WHERE b.received > b.expected_payin AND NOT (b.lead_id = ANY(p.lead_ids))
UNION ALL
SELECT f.lead_id, f.source_type, f.expected_payin, f.received,
       f.expected_payin - f.received, f.date_of_revenue
FROM pending p, lead_payin_balances_of(p.lead_ids) f
WHERE f.received > f.expected_payin;

-- A ledger migrated with history: every lead with events or receipts, once.
SELECT refresh_lead_payin_balances(array(
    SELECT lead_id FROM payout_events UNION SELECT lead_id FROM remittance_receipts));

-- --- A cycle's statements, for all of its SPs in one read (SPEC §10) --------------------
-- Events written rejected (a KPI whose earned event a person rejected): few, so partial.
CREATE INDEX payout_events_written_rejected ON payout_events (event_id) WHERE status = 'rejected';
-- A cycle's credits, resent ones included (010's index has the first credits only).
CREATE INDEX wallet_credits_by_cycle ON wallet_credits (cycle_number);
-- Events a person rejected (a statement shows them in the cycle they were rejected in).
CREATE INDEX hold_decisions_rejected ON hold_decisions (event_id) WHERE decision = 'rejected';

-- --- `payout recalculate` reads its window, not every paid lead (SPEC §4.3) -------------
-- A BRIN index: a few bytes per block range of the table, kept up to date by a million-row
-- file at almost no cost (a B-tree on (product_type, date_of_sale) would add a million
-- entries to it). Leads are paid in the order they are sold, roughly, so a window of sale
-- dates reads the block ranges that hold it.
CREATE INDEX payout_calculations_sale_ranges ON payout_calculations USING brin (date_of_sale);
