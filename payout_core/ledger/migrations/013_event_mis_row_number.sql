-- SPEC §10: a lead's story names the MIS file *and its row number* that made each event.
-- Nullable: events from a recalculation have no MIS row, and events written before this
-- migration did not keep it (their story names the file only).
ALTER TABLE payout_events ADD COLUMN mis_row_number bigint
    CHECK (mis_row_number IS NULL OR mis_row_number >= 1);
