-- +goose Up
-- Events are indexed for search in the background (see store/search.go):
-- the webhook's transaction appends the event's id here instead of
-- writing its terms. gen is bumped when a queued event's conversion
-- changes, so the indexer reads it again. Events that the older backfill
-- had not indexed yet join the queue; search_indexed is no longer used.
CREATE TABLE search_queue (
    event_id BIGINT PRIMARY KEY,
    gen      BIGINT NOT NULL DEFAULT 0
);
INSERT INTO search_queue (event_id) SELECT id FROM events WHERE search_indexed = FALSE;
DROP INDEX events_unindexed;

-- +goose Down
CREATE INDEX events_unindexed ON events (id) WHERE search_indexed = FALSE;
UPDATE events SET search_indexed = FALSE WHERE id IN (SELECT event_id FROM search_queue);
DROP TABLE search_queue;
