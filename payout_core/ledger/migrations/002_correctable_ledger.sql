-- A correctable ledger (SPEC §4): money moves only by appending payout events, one per KPI
-- earned and one per adjustment; the final table is a projection of them.
--
-- The write-once `payout_events` of 001 (one row per lead, payout only) is moved forward:
-- each of its rows becomes one `earned` event per KPI it paid (KPI1, and KPI2 when it paid
-- anything), with the amounts of its payout_calculations row. Nothing is lost: a row that
-- cannot be moved (no calculation, or amounts that disagree) stops the migration.

-- A recalculation (`payout recalculate`): who asked, for what, what it came to. Written
-- once, after its adjustments were computed; only the iteration that reports it is set
-- later (reported_at, iteration_number, as for mis_runs). Its money is in its events.
CREATE TABLE recalculations (
    recalculation_id  bigserial PRIMARY KEY,
    requested_by      text,
    product_type      text,          -- null: every product
    date_of_sale_from date,
    date_of_sale_to   date,
    rule_set_version  integer NOT NULL,  -- the rules "in force now" it used
    leads_examined    bigint NOT NULL,
    leads_adjusted    bigint NOT NULL,
    event_count       bigint NOT NULL,
    total_payin       numeric(18, 2) NOT NULL,
    total_payout      numeric(18, 2) NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    reported_at       timestamptz,
    iteration_number  integer
);

ALTER TABLE payout_events RENAME TO payout_events_001;
ALTER TABLE payout_events_001 RENAME CONSTRAINT payout_events_pkey TO payout_events_001_pkey;

-- rule_id, mis_run_id and recalculation_id carry no foreign key, as in 001: a paid file
-- appends one or two events per lead, and per-row FK triggers cost a third of the write.
CREATE TABLE payout_events (
    event_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id           text NOT NULL,
    sp_id             text NOT NULL,
    source_type       text NOT NULL,
    medium_type       text NOT NULL,
    product_type      text NOT NULL,
    kpi               text NOT NULL CHECK (kpi IN ('KPI1', 'KPI2')),
    kind              text NOT NULL CHECK (kind IN ('earned', 'adjustment')),
    -- The outcome (SPEC §4.2) of what made it: 'paid' (the lead's first payment),
    -- 'kpi_earned' (a KPI earned after that), 'adjusted' (an MIS correction or a recalculation).
    outcome           text NOT NULL CHECK (outcome IN ('paid', 'kpi_earned', 'adjusted')),
    -- Position of this event in its (lead, KPI) history: 1 is the KPI earned, each
    -- adjustment the next. With the unique index below it is the idempotency key: two
    -- writers that saw the same history (racing files, a file racing a recalculation) both
    -- claim the same position, and the database lets exactly one of them have it.
    kpi_sequence      integer NOT NULL CHECK (kpi_sequence >= 1),
    payin_amount      numeric(16, 2) NOT NULL,   -- an adjustment may be negative
    payout_amount     numeric(16, 2) NOT NULL,
    reason            text NOT NULL,
    mis_run_id        bigint,
    recalculation_id  bigint,
    rule_id           bigint NOT NULL,
    requested_by      text,
    status            text NOT NULL DEFAULT 'released' CHECK (status IN ('released', 'held')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'earned') = (kpi_sequence = 1)),
    CHECK ((mis_run_id IS NULL) <> (recalculation_id IS NULL))
);
-- A KPI is earned once per lead (sequence 1), and each later position is taken once.
-- text_pattern_ops: the index orders and compares bytes (memcmp), never the locale's
-- collation. Uniqueness is the same (equal text is equal bytes); a paid million-row file
-- inserts two million entries, and comparing them under a locale's collation cost about a
-- third of the file's write time. Unlike `COLLATE "C"` on the index, which only a lookup
-- written `lead_id = $1 COLLATE "C"` could use (a plain `=` scanned the ledger), this
-- operator class serves every plain `lead_id = ...` (its `=` is the ordinary text
-- equality). It cannot serve ORDER BY lead_id, which nothing asks of it.
CREATE UNIQUE INDEX payout_events_lead_kpi_sequence
    ON payout_events (lead_id text_pattern_ops, kpi text_pattern_ops, kpi_sequence);
-- What made an adjustment adjusts a lead's KPI at most once (adjustments are few: partial).
CREATE UNIQUE INDEX payout_events_adjustment_source
    ON payout_events (lead_id, kpi, mis_run_id, recalculation_id) NULLS NOT DISTINCT
    WHERE kind = 'adjustment';
-- The email's adjustments and KPIs earned late, per run: few events, so partial indexes;
-- first payments are read through payout_calculations.
CREATE INDEX payout_events_later_by_run ON payout_events (mis_run_id) WHERE outcome <> 'paid';
CREATE INDEX payout_events_by_recalculation ON payout_events (recalculation_id)
    WHERE recalculation_id IS NOT NULL;

-- Append-only, enforced by the database: whatever moved money is never changed or removed.
CREATE FUNCTION refuse_change_to_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'correct money with a new adjustment event, never by editing one';
END;
$$;
CREATE TRIGGER payout_events_append_only
    BEFORE UPDATE OR DELETE ON payout_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only();
CREATE TRIGGER payout_events_no_truncate
    BEFORE TRUNCATE ON payout_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only();
CREATE TRIGGER recalculations_no_delete
    BEFORE DELETE ON recalculations
    FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only();
CREATE TRIGGER recalculations_no_truncate
    BEFORE TRUNCATE ON recalculations
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only();

-- The facts a lead's worth is recomputed from (SPEC §4.1), beside the KPI columns:
-- basis_amount is the MIS amount the KPIs were last computed from (unknown, null, for
-- leads paid before this migration); date_of_sale and rule_id were already here.
ALTER TABLE payout_calculations
    ADD COLUMN basis_amount numeric(16, 2),
    ADD COLUMN updated_at timestamptz;

-- Every old event must have its calculation row, with the same payout.
DO $$
DECLARE
    orphan record;
BEGIN
    SELECT e.lead_id, e.payout_amount, c.total_payout INTO orphan
    FROM payout_events_001 e
    LEFT JOIN payout_calculations c USING (lead_id)
    WHERE c.lead_id IS NULL OR c.total_payout <> e.payout_amount
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'payout event of lead % (payout %) has no matching calculation (%): '
            'migration 002 cannot split it into KPI events', orphan.lead_id,
            orphan.payout_amount, coalesce(orphan.total_payout::text, 'none');
    END IF;
END;
$$;

INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type, product_type, kpi, kind,
                           outcome, kpi_sequence, payin_amount, payout_amount, reason, mis_run_id,
                           rule_id, status, created_at)
SELECT e.lead_id, e.sp_id, c.source_type, c.medium_type, c.product_type, k.kpi, 'earned',
       'paid', 1,
       k.payin_amount, k.payout_amount,
       k.kpi || ' earned (moved from the one-row-per-lead ledger of migration 001)',
       e.mis_run_id, c.rule_id, 'released', e.created_at
FROM payout_events_001 e
JOIN payout_calculations c USING (lead_id)
CROSS JOIN LATERAL (
    VALUES ('KPI1', c.kpi1_payin_amount, c.kpi1_payout_amount),
           ('KPI2', c.kpi2_payin_amount, c.kpi2_payout_amount)
) AS k (kpi, payin_amount, payout_amount)
WHERE k.kpi = 'KPI1' OR k.payin_amount <> 0 OR k.payout_amount <> 0
ORDER BY e.created_at, e.lead_id, k.kpi;

DROP TABLE payout_events_001;

-- The events that count in the final table. Here: released at creation. The cycles
-- migration (003) replaces this view, and only this view, with the derived effective
-- status (held events once approved, never rejected ones); the projection stays as is.
CREATE VIEW released_payout_events AS
SELECT * FROM payout_events WHERE status = 'released';

-- The projection (SPEC §5): each KPI column of a lead's calculation is the sum of that
-- KPI's released events, totals likewise; returns how many rows changed. The row itself
-- (the lead's facts) is written by whoever first paid the lead. One statement for any set
-- of leads.
CREATE FUNCTION refresh_calculations(lead_ids text[]) RETURNS bigint
LANGUAGE sql AS $$
    WITH sums AS (
        SELECT c.lead_id,
               coalesce(sum(e.payin_amount) FILTER (WHERE e.kpi = 'KPI1'), 0) AS kpi1_payin,
               coalesce(sum(e.payout_amount) FILTER (WHERE e.kpi = 'KPI1'), 0) AS kpi1_payout,
               coalesce(sum(e.payin_amount) FILTER (WHERE e.kpi = 'KPI2'), 0) AS kpi2_payin,
               coalesce(sum(e.payout_amount) FILTER (WHERE e.kpi = 'KPI2'), 0) AS kpi2_payout
        FROM payout_calculations c
        LEFT JOIN released_payout_events e ON e.lead_id = c.lead_id
        WHERE c.lead_id = ANY(lead_ids)
        GROUP BY c.lead_id
    ), refreshed AS (
        UPDATE payout_calculations c
        SET kpi1_payin_amount = s.kpi1_payin, kpi1_payout_amount = s.kpi1_payout,
            kpi2_payin_amount = s.kpi2_payin, kpi2_payout_amount = s.kpi2_payout,
            total_payin = s.kpi1_payin + s.kpi2_payin,
            total_payout = s.kpi1_payout + s.kpi2_payout,
            updated_at = now()
        FROM sums s
        WHERE c.lead_id = s.lead_id
          AND (c.kpi1_payin_amount, c.kpi1_payout_amount, c.kpi2_payin_amount,
               c.kpi2_payout_amount)
              IS DISTINCT FROM (s.kpi1_payin, s.kpi1_payout, s.kpi2_payin, s.kpi2_payout)
        RETURNING 1
    )
    SELECT count(*) FROM refreshed
$$;

-- What each KPI of a lead was paid so far, and the last position in its history: what a
-- later MIS row or a recalculation is weighed against. Read per lead (`lead_id = ...`: the
-- planner pushes it below the GROUP BY, onto payout_events_lead_kpi_sequence).
-- The cycles migration may replace it so that the sums leave out rejected events;
-- last_sequence must keep counting every event.
CREATE VIEW lead_kpi_paid AS
SELECT lead_id, kpi,
       sum(payin_amount) AS paid_payin_amount,
       sum(payout_amount) AS paid_payout_amount,
       max(kpi_sequence) AS last_sequence
FROM payout_events
GROUP BY lead_id, kpi;
