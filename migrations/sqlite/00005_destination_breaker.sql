-- +goose Up
-- A destination's circuit breaker and credential probe: failures counts
-- whole batches failed in a row (or rejected credential probes while the
-- destination is parked), paused_until is when it may be tried again.
-- Kept in the database so replicas agree and a restart keeps the pause.
ALTER TABLE destinations ADD COLUMN paused_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE destinations DROP COLUMN failures;
ALTER TABLE destinations DROP COLUMN paused_until;
