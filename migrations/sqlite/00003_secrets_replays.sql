-- +goose Up
-- A rotated-out signing secret is accepted until this time (unix ms); a
-- previous secret with 0 is not accepted. One kept before expiry existed
-- gets the default overlap (24 hours) from now.
ALTER TABLE shops ADD COLUMN previous_secret_expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE shops SET previous_secret_expires_at = CAST(strftime('%s', 'now') AS BIGINT) * 1000 + 86400000
    WHERE previous_secret IS NOT NULL;

-- Replays of a known delivery or order are counted on the original event
-- instead of being stored again with their body.
ALTER TABLE events ADD COLUMN duplicates BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN last_duplicate_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE events DROP COLUMN last_duplicate_at;
ALTER TABLE events DROP COLUMN duplicates;
ALTER TABLE shops DROP COLUMN previous_secret_expires_at;
