-- +goose Up
-- Searches read the search queue as well as the index, so an event is
-- found whether or not the indexer has reached it. A queued event whose
-- terms are not in its queue row (queued before 00015 kept terms there,
-- or changed by a late beacon join since) is indexed before a search
-- instead; this partial index finds those few rows without reading the
-- queue, and costs nothing to a webhook, whose queue row has its terms.
CREATE INDEX search_queue_unread ON search_queue (event_id) WHERE terms = '';

-- +goose Down
DROP INDEX search_queue_unread;
