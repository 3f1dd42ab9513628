-- One hold rule, the engine's (engine/holds.py): the database keeps the reason that was
-- decided when an event was written, and no SQL function decides a hold a second time.
--
-- Since 005 the engine writes each held event with its reason (payout_events.hold_reason).
-- Events written held before 005 have none: 003's function hold_reason_at_creation said
-- why, every time the view was read. Its words for those events are kept once, here, as
-- the hold they are (event_holds, held when they were written), and the function goes.

INSERT INTO event_holds (event_id, hold_reason, held_at)
SELECT e.event_id,
       CASE WHEN e.kind = 'adjustment' AND e.payout_amount < 0
            THEN 'negative adjustment: money taken back from the SP'
            ELSE 'payout above the per-event limit (PAYOUT_HOLD_EVENT_ABOVE)' END,
       e.created_at
FROM payout_events e
WHERE e.status = 'held' AND e.hold_reason IS NULL
  AND NOT EXISTS (SELECT 1 FROM event_holds h WHERE h.event_id = e.event_id);

-- The effective state, as in 005, with the reason as it was recorded.
CREATE OR REPLACE VIEW payout_event_states AS
SELECT e.event_id, e.lead_id, e.sp_id, e.source_type, e.medium_type, e.product_type, e.kpi,
       e.kind, e.payin_amount, e.payout_amount, e.reason, e.mis_run_id, e.recalculation_id,
       e.rule_id, e.requested_by, e.status AS status_at_creation, e.created_at,
       CASE WHEN h.event_id IS NOT NULL THEN h.hold_reason
            WHEN e.status = 'held' THEN e.hold_reason
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

DROP FUNCTION hold_reason_at_creation(text, numeric);
