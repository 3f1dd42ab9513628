-- Products with any number of KPIs, and products with parameters and facts no product had
-- before, with no migration of their own (a product is one module plus rows of rules).

-- A KPI is named KPI1, KPI2, KPI3, ... as its product declares; not only KPI1 and KPI2.
ALTER TABLE payout_events DROP CONSTRAINT payout_events_kpi_check;
ALTER TABLE payout_events ADD CONSTRAINT payout_events_kpi_check
    CHECK (kpi ~ '^KPI[1-9][0-9]*$');

-- A rule's parameters are whatever its product declares (engine/products.RuleParameter),
-- kept by their snake_case name as exact numbers: a new product's parameter needs no
-- column. The columns of 001 move into it, value for value.
ALTER TABLE payin_payout_rules ADD COLUMN parameters jsonb;
UPDATE payin_payout_rules SET parameters = jsonb_build_object(
    'kpi1_payin_percentage', kpi1_payin_percentage,
    'kpi1_payout_percentage', kpi1_payout_percentage,
    'kpi1_payin_amount', kpi1_payin_amount,
    'kpi1_payout_amount', kpi1_payout_amount,
    'min_invested_amount_bound', min_invested_amount_bound,
    'kpi2_payin_amount', kpi2_payin_amount,
    'kpi2_payout_amount', kpi2_payout_amount
);
ALTER TABLE payin_payout_rules
    ALTER COLUMN parameters SET NOT NULL,
    ADD CONSTRAINT payin_payout_rules_parameters_are_an_object
        CHECK (jsonb_typeof(parameters) = 'object'),
    DROP COLUMN kpi1_payin_percentage,
    DROP COLUMN kpi1_payout_percentage,
    DROP COLUMN kpi1_payin_amount,
    DROP COLUMN kpi1_payout_amount,
    DROP COLUMN min_invested_amount_bound,
    DROP COLUMN kpi2_payin_amount,
    DROP COLUMN kpi2_payout_amount;

-- The facts a lead's KPIs stand on (SPEC §4.1: its latest valid MIS row), each MIS column
-- the product reads beside the event date, by name, as text: {"InvestedAmount":"2616.00"},
-- {"ActivationDate":"2023-10-09","FirstSpendAmount":null}. json, not jsonb: kept as the
-- engine wrote it (engine/facts.as_json), so equal facts read back as equal text. basis_amount
-- (002) stays for the leads paid before; the engine reads it as the product's one amount.
ALTER TABLE payout_calculations ADD COLUMN basis_facts json;

-- SPEC §5's final table keeps its columns, KPI1 and KPI2; its totals count every KPI.
CREATE OR REPLACE FUNCTION refresh_calculations(lead_ids text[]) RETURNS bigint
LANGUAGE sql AS $$
    WITH sums AS (
        SELECT c.lead_id,
               coalesce(sum(e.payin_amount) FILTER (WHERE e.kpi = 'KPI1'), 0) AS kpi1_payin,
               coalesce(sum(e.payout_amount) FILTER (WHERE e.kpi = 'KPI1'), 0) AS kpi1_payout,
               coalesce(sum(e.payin_amount) FILTER (WHERE e.kpi = 'KPI2'), 0) AS kpi2_payin,
               coalesce(sum(e.payout_amount) FILTER (WHERE e.kpi = 'KPI2'), 0) AS kpi2_payout,
               coalesce(sum(e.payin_amount), 0) AS total_payin,
               coalesce(sum(e.payout_amount), 0) AS total_payout
        FROM payout_calculations c
        LEFT JOIN released_payout_events e ON e.lead_id = c.lead_id
        WHERE c.lead_id = ANY(lead_ids)
        GROUP BY c.lead_id
    ), refreshed AS (
        UPDATE payout_calculations c
        SET kpi1_payin_amount = s.kpi1_payin, kpi1_payout_amount = s.kpi1_payout,
            kpi2_payin_amount = s.kpi2_payin, kpi2_payout_amount = s.kpi2_payout,
            total_payin = s.total_payin, total_payout = s.total_payout,
            updated_at = now()
        FROM sums s
        WHERE c.lead_id = s.lead_id
          AND (c.kpi1_payin_amount, c.kpi1_payout_amount, c.kpi2_payin_amount,
               c.kpi2_payout_amount, c.total_payin, c.total_payout)
              IS DISTINCT FROM (s.kpi1_payin, s.kpi1_payout, s.kpi2_payin, s.kpi2_payout,
                                s.total_payin, s.total_payout)
        RETURNING 1
    )
    SELECT count(*) FROM refreshed
$$;

-- Each KPI's sums per paid lead (SPEC §5's columns are KPI1 and KPI2 only): what a product
-- with more KPIs was paid for each, from the released events as the final table is.
-- Read per lead (`lead_id = ...`, through the (lead, KPI, position) index).
CREATE VIEW payout_calculation_kpis AS
SELECT lead_id, kpi, sum(payin_amount) AS payin_amount, sum(payout_amount) AS payout_amount
FROM released_payout_events
GROUP BY lead_id, kpi;
