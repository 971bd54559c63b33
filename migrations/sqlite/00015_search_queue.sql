-- +goose Up
-- Events are indexed for search in the background (see store/search.go):
-- the webhook's transaction appends the event's id here with its terms
-- (a JSON array) instead of writing them into the index. When a queued
-- event's conversion changes, gen is bumped and terms emptied, so the
-- indexer reads it again from the event; it reads events queued with no
-- terms the same way, such as those the older backfill had not indexed
-- yet, which join the queue here. search_indexed is no longer used.
CREATE TABLE search_queue (
    event_id INTEGER PRIMARY KEY,
    gen      BIGINT NOT NULL DEFAULT 0,
    terms    TEXT   NOT NULL DEFAULT ''
);
INSERT INTO search_queue (event_id) SELECT id FROM events WHERE search_indexed = FALSE;
DROP INDEX events_unindexed;

-- +goose Down
CREATE INDEX events_unindexed ON events (id) WHERE search_indexed = FALSE;
UPDATE events SET search_indexed = FALSE WHERE id IN (SELECT event_id FROM search_queue);
DROP TABLE search_queue;
