-- Reconciliation (SPEC §9). Money in: what banks remitted, per lead, against the payin
-- the ledger says they owe. Money out: what the wallet team confirmed of the credits.
-- Receipts and confirmations record money that moved: append-only, enforced by triggers
-- (refuse_change_to_append_only() comes from 002).

-- One row per remittance file processed to completion (a refused file leaves none: see
-- error_logs). Only the iteration that reports it is set later, as for mis_runs.
CREATE TABLE remittance_runs (
    remittance_run_id  bigserial PRIMARY KEY,
    remittance_file    text NOT NULL,
    content_sha256     text NOT NULL,
    etag               text,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL DEFAULT now(),
    rows_read          bigint NOT NULL,
    outcome_counts     jsonb NOT NULL,
    total_received     numeric(18, 2) NOT NULL,
    reported_at        timestamptz,
    iteration_number   integer
);
CREATE INDEX remittance_runs_unreported ON remittance_runs (remittance_run_id)
    WHERE reported_at IS NULL;

-- One row per remittance row that is money received: matched, short, over, unexpected.
-- source_type is the bank (null when neither the file nor a known lead says which); a
-- Reference is recorded once per bank, which is what makes a re-delivered file change
-- nothing, whatever races. remittance_run_id has no foreign key, as payout_calculations.
CREATE TABLE remittance_receipts (
    receipt_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    remittance_run_id  bigint NOT NULL,
    row_number         bigint NOT NULL,
    source_type        text,
    reference          text NOT NULL,
    tracking_id        text NOT NULL,
    lead_id            text NOT NULL,
    amount             numeric(16, 2) NOT NULL CHECK (amount > 0),
    paid_on            date NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('matched', 'short', 'over', 'unexpected')),
    owed_before        numeric(16, 2),   -- what the lead owed when it arrived (null: no lead)
    reason             text,             -- in words, for every outcome but matched
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX remittance_receipts_reference
    ON remittance_receipts (reference, source_type) NULLS NOT DISTINCT;
CREATE INDEX remittance_receipts_lead ON remittance_receipts (lead_id);
CREATE INDEX remittance_receipts_run ON remittance_receipts (remittance_run_id);

-- The rows of a remittance file that are no payment: invalid and duplicate, with why.
CREATE TABLE remittance_rejected_rows (
    remittance_run_id  bigint NOT NULL,
    row_number         bigint NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('invalid', 'duplicate')),
    reason             text NOT NULL,
    source_type        text,
    tracking_id        text,
    amount_text        text,
    paid_on_text       text,
    reference          text,
    PRIMARY KEY (remittance_run_id, row_number)
);

CREATE TRIGGER remittance_receipts_append_only
    BEFORE UPDATE OR DELETE ON remittance_receipts
    FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only();
CREATE TRIGGER remittance_receipts_no_truncate
    BEFORE TRUNCATE ON remittance_receipts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only();

-- The events whose payin a bank owes: every event of the lead but the rejected ones (a
-- rejected KPI is worth zero for the lead, SPEC §8; the derived status comes from 003's
-- payout_event_states, its one place). Both the receivables and the matching of a
-- remittance file read this view.
CREATE VIEW payin_events AS
SELECT lead_id, payin_amount, created_at
FROM payout_event_states
WHERE effective_status <> 'rejected';

-- What each lead's bank owes and has paid. expected_payin is the sum of payin_events,
-- received what the lead's own bank remitted for it; outstanding is the difference
-- (negative: over-received, e.g. a negative adjustment after a full remittance). The age
-- of what is outstanding counts from the lead's DateOfRevenue.
CREATE VIEW lead_receivables AS
WITH expected AS (
    SELECT lead_id, sum(payin_amount) AS expected_payin, min(created_at) AS first_event_at
    FROM payin_events
    GROUP BY lead_id
), received AS (
    SELECT r.lead_id, sum(r.amount) AS received
    FROM remittance_receipts r
    JOIN leads l ON l.lead_id = r.lead_id AND l.source_type = r.source_type
    GROUP BY r.lead_id
)
SELECT l.lead_id,
       l.source_type,
       coalesce(e.expected_payin, 0) AS expected_payin,
       coalesce(rc.received, 0) AS received,
       coalesce(e.expected_payin, 0) - coalesce(rc.received, 0) AS outstanding,
       coalesce(c.date_of_revenue, (e.first_event_at AT TIME ZONE 'UTC')::date) AS date_of_revenue
FROM leads l
LEFT JOIN expected e ON e.lead_id = l.lead_id
LEFT JOIN received rc ON rc.lead_id = l.lead_id
LEFT JOIN payout_calculations c ON c.lead_id = l.lead_id
WHERE e.lead_id IS NOT NULL OR rc.lead_id IS NOT NULL;

-- --- Money out ------------------------------------------------------------------------

-- One row per wallet confirmation file processed to completion.
CREATE TABLE confirmation_runs (
    confirmation_run_id  bigserial PRIMARY KEY,
    confirmation_file    text NOT NULL,
    content_sha256       text NOT NULL,
    etag                 text,
    started_at           timestamptz NOT NULL,
    finished_at          timestamptz NOT NULL DEFAULT now(),
    rows_read            bigint NOT NULL,
    outcome_counts       jsonb NOT NULL,
    reported_at          timestamptz,
    iteration_number     integer
);
CREATE INDEX confirmation_runs_unreported ON confirmation_runs (confirmation_run_id)
    WHERE reported_at IS NULL;

-- What the wallet team says became of a credit: one answer per credit (a re-delivered or
-- contradicting row is a duplicate, never a second answer). A failed credit is sent again
-- by a later cycle close as a new credit naming it (wallet_credits.replaces_credit_id).
CREATE TABLE wallet_confirmations (
    confirmation_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    credit_id            text NOT NULL UNIQUE REFERENCES wallet_credits,
    status               text NOT NULL CHECK (status IN ('success', 'failed')),
    reference            text,
    reason               text,
    confirmation_run_id  bigint NOT NULL REFERENCES confirmation_runs,
    row_number           bigint NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (status = 'failed' OR reference IS NOT NULL)
);
CREATE TRIGGER wallet_confirmations_append_only
    BEFORE UPDATE OR DELETE ON wallet_confirmations
    FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only();
CREATE TRIGGER wallet_confirmations_no_truncate
    BEFORE TRUNCATE ON wallet_confirmations
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only();

-- The rows of a confirmation file that are no answer: invalid, unknown, duplicate.
CREATE TABLE confirmation_rejected_rows (
    confirmation_run_id  bigint NOT NULL REFERENCES confirmation_runs,
    row_number           bigint NOT NULL,
    outcome              text NOT NULL CHECK (outcome IN ('invalid', 'unknown', 'duplicate')),
    reason               text NOT NULL,
    credit_id            text,
    status_text          text,
    reference            text,
    PRIMARY KEY (confirmation_run_id, row_number)
);

-- The one place a credit's status is derived: 'sent' until the wallet team answers,
-- then 'confirmed' or 'failed'.
CREATE VIEW wallet_credit_states AS
SELECT w.credit_id,
       CASE c.status WHEN 'success' THEN 'confirmed' WHEN 'failed' THEN 'failed' ELSE 'sent' END
           AS status,
       c.reference, c.reason, c.created_at AS confirmed_at
FROM wallet_credits w
LEFT JOIN wallet_confirmations c ON c.credit_id = w.credit_id;

-- Each failed credit not sent again yet, with how often its money failed so far (the
-- credits it replaced all failed too) and the first credit of that chain, whose cycle
-- events are the money it carries.
CREATE VIEW failed_credit_chains AS
WITH RECURSIVE chain AS (
    SELECT w.credit_id AS last_credit_id, w.credit_id, w.replaces_credit_id, 1 AS depth
    FROM wallet_credits w
    JOIN wallet_confirmations c ON c.credit_id = w.credit_id AND c.status = 'failed'
    WHERE NOT EXISTS (SELECT 1 FROM wallet_credits r WHERE r.replaces_credit_id = w.credit_id)
    UNION ALL
    SELECT chain.last_credit_id, p.credit_id, p.replaces_credit_id, chain.depth + 1
    FROM chain JOIN wallet_credits p ON p.credit_id = chain.replaces_credit_id
)
SELECT last_credit_id,
       count(*) AS failures,
       (array_agg(credit_id ORDER BY depth DESC))[1] AS first_credit_id
FROM chain
GROUP BY last_credit_id;
