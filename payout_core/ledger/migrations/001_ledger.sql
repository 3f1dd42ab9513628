-- The payout ledger. Money is numeric (exact); names are SPEC's words in snake_case.

CREATE TABLE leads (
    lead_id          text PRIMARY KEY,
    lead_created_at  timestamptz,
    sp_id            text NOT NULL,
    source_type      text NOT NULL,
    medium_type      text NOT NULL,
    product_type     text NOT NULL,
    status           text NOT NULL,
    sub_status       text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Each `payout rules load` is a new version holding the whole file; the newest is in force.
CREATE TABLE rule_sets (
    rule_set_version  integer PRIMARY KEY,
    source_file       text NOT NULL,
    content_sha256    text NOT NULL,
    loaded_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payin_payout_rules (
    rule_id                    bigserial PRIMARY KEY,
    rule_set_version           integer NOT NULL REFERENCES rule_sets,
    row_number                 integer NOT NULL,
    source_type                text NOT NULL,
    medium_type                text NOT NULL,
    product_type               text NOT NULL,
    kpi_start_date             date NOT NULL,
    kpi_end_date               date NOT NULL,
    kpi1_payin_percentage      numeric(9, 4) NOT NULL DEFAULT 0,
    kpi1_payout_percentage     numeric(9, 4) NOT NULL DEFAULT 0,
    kpi1_payin_amount          numeric(16, 2) NOT NULL DEFAULT 0,
    kpi1_payout_amount         numeric(16, 2) NOT NULL DEFAULT 0,
    min_invested_amount_bound  numeric(16, 2) NOT NULL DEFAULT 0,
    kpi2_payin_amount          numeric(16, 2) NOT NULL DEFAULT 0,
    kpi2_payout_amount         numeric(16, 2) NOT NULL DEFAULT 0,
    success_criteria           text,
    CHECK (kpi_end_date >= kpi_start_date)
);
CREATE INDEX payin_payout_rules_version ON payin_payout_rules (rule_set_version);

-- One row per MIS file processed to completion (a failed file leaves none: see error_logs).
CREATE TABLE mis_runs (
    mis_run_id      bigserial PRIMARY KEY,
    mis_file        text NOT NULL,
    content_sha256  text NOT NULL,
    etag            text,
    product_type    text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    rows_read       bigint NOT NULL,
    outcome_counts  jsonb NOT NULL,
    total_payin     numeric(18, 2) NOT NULL,
    total_payout    numeric(18, 2) NOT NULL,
    reported_at     timestamptz,
    iteration_number integer
);
CREATE INDEX mis_runs_unreported ON mis_runs (mis_run_id) WHERE reported_at IS NULL;

-- SPEC §5: one row per paid lead. rule_id and mis_run_id carry no foreign key on purpose:
-- the one statement that writes this table joins them from rows of the same transaction,
-- and per-row FK triggers cost a third of the write time on a million-row file.
CREATE TABLE payout_calculations (
    created_at          timestamptz NOT NULL,
    source_type         text NOT NULL,
    medium_type         text NOT NULL,
    product_type        text NOT NULL,
    sp_id               text NOT NULL,
    lead_id             text PRIMARY KEY,
    status              text NOT NULL,
    sub_status          text NOT NULL,
    date_of_sale        date NOT NULL,
    date_of_revenue     date NOT NULL,
    kpi1_payin_amount   numeric(16, 2) NOT NULL,
    kpi1_payout_amount  numeric(16, 2) NOT NULL,
    kpi2_payin_amount   numeric(16, 2) NOT NULL,
    kpi2_payout_amount  numeric(16, 2) NOT NULL,
    total_payin         numeric(16, 2) NOT NULL,
    total_payout        numeric(16, 2) NOT NULL,
    rule_id             bigint NOT NULL,
    mis_run_id          bigint NOT NULL
);
CREATE INDEX payout_calculations_run ON payout_calculations (mis_run_id);

-- The wallet credit per paid lead, for the wallet team to execute. Unique per lead:
-- this constraint is what makes "money moves once" true whatever else goes wrong.
CREATE TABLE payout_events (
    lead_id          text PRIMARY KEY,
    sp_id            text NOT NULL,
    payout_amount    numeric(16, 2) NOT NULL CHECK (payout_amount >= 0),
    status           text NOT NULL DEFAULT 'pending',
    created_at       timestamptz NOT NULL DEFAULT now(),
    mis_run_id       bigint NOT NULL  -- no FK, as in payout_calculations
);

-- SPEC §6.
CREATE TABLE error_logs (
    error_log_id      bigserial PRIMARY KEY,
    created_at        timestamptz NOT NULL DEFAULT now(),
    mis               text NOT NULL,
    error_type        text NOT NULL,
    reported_at       timestamptz,
    iteration_number  integer
);
CREATE INDEX error_logs_unreported ON error_logs (error_log_id) WHERE reported_at IS NULL;

-- One row per iteration email sent.
CREATE TABLE iterations (
    iteration_number  integer PRIMARY KEY,
    sent_at           timestamptz NOT NULL DEFAULT now(),
    subject           text NOT NULL,
    recipients        text NOT NULL,
    message_id        text,
    mis_run_count     integer NOT NULL,
    error_count       integer NOT NULL
);
