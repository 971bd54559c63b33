-- +goose Up
-- Finding an order: search terms per event (order name and id, the pixel's
-- event id, click ids, the buyer's email as a SHA-256 of its normalized
-- form, and the match-quality band), so no email is kept in clear for
-- search. New events get their terms in the transaction that stores them;
-- events stored before this version are indexed in the background, so they
-- start as not indexed.
ALTER TABLE events ADD COLUMN search_indexed BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE events SET search_indexed = FALSE;
CREATE INDEX events_unindexed ON events (id) WHERE search_indexed = FALSE;
CREATE INDEX events_received ON events (received_at, id);

CREATE TABLE event_search (
    term     TEXT   NOT NULL,
    event_id BIGINT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    PRIMARY KEY (term, event_id)
);
CREATE INDEX event_search_event ON event_search (event_id);

-- The platform filter of the events list.
CREATE INDEX deliveries_platform ON deliveries (platform, status, event_id);

-- Webhooks refused for their signature, per shop, minute and reason, so
-- the commonest setup mistake (a wrong secret) shows on the dashboard and
-- the shop's page, not only in /metrics. Counted in memory and written
-- every few seconds, so a flood of bad requests costs no write each.
CREATE TABLE webhook_rejections (
    shop_id BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    minute  BIGINT NOT NULL,
    reason  TEXT   NOT NULL,
    count   BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (shop_id, minute, reason)
);

-- A delivery Postback refused before sending (nothing the platform can
-- match on, past its window, not supported) is "skipped", not "failed".
UPDATE deliveries SET status = 'skipped'
    WHERE status = 'failed' AND status_code = 0 AND error_class IN ('invalid', 'expired') AND attempts <= 1
      AND last_error NOT LIKE '%gave up%';

-- +goose Down
UPDATE deliveries SET status = 'failed' WHERE status = 'skipped';
DROP TABLE webhook_rejections;
DROP INDEX deliveries_platform;
DROP TABLE event_search;
DROP INDEX events_received;
DROP INDEX events_unindexed;
ALTER TABLE events DROP COLUMN search_indexed;
