-- +goose Up
-- A platform's own verdict on a request it accepted for later processing
-- (Google Data Manager's requestStatus): the request id it answered, the
-- state read back ('' when nothing is followed up, then 'processing' until
-- the platform has finished: 'accepted', 'partial', 'rejected', or
-- 'unknown' when it could not be read), its counts and reasons, and when to
-- ask next (unix ms).
ALTER TABLE deliveries ADD COLUMN platform_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN platform_status TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN platform_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN platform_check_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deliveries_platform_check ON deliveries (platform_check_at)
    WHERE platform_status = 'processing';

-- +goose Down
DROP INDEX deliveries_platform_check;
ALTER TABLE deliveries DROP COLUMN platform_check_at;
ALTER TABLE deliveries DROP COLUMN platform_detail;
ALTER TABLE deliveries DROP COLUMN platform_status;
ALTER TABLE deliveries DROP COLUMN platform_request_id;
