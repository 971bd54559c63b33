-- +goose Up
-- The first-party capture kit (issue 11): each shop's public id for the
-- storefront script, browser beacons waiting for (or joined to) their
-- order, and the platforms' own verdict on match quality.

ALTER TABLE shops ADD COLUMN public_id TEXT NOT NULL DEFAULT '';
-- When the shop's script last sent a beacon: conversions of a shop that
-- used it in the last 7 days wait a short while for theirs.
ALTER TABLE shops ADD COLUMN script_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE shops SET public_id = replace(gen_random_uuid()::text, '-', '') WHERE public_id = '';
CREATE UNIQUE INDEX shops_public_id ON shops (public_id) WHERE public_id <> '';

-- One row per (shop, order_ref), written by whichever comes first: the
-- browser's beacon (data set, event_id 0 until an order claims it) or a
-- conversion held for its beacon (data empty, event_id set). The unique
-- key is where the two meet.
CREATE TABLE beacons (
    id          BIGSERIAL PRIMARY KEY,
    shop_id     BIGINT  NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    order_ref   TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '',  -- mapping.Beacon as JSON; never raw cookie headers
    received_at BIGINT  NOT NULL DEFAULT 0,   -- when the beacon came; 0 while a conversion waits
    event_id    BIGINT  NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL DEFAULT '',  -- joined, or why the beacon was not used
    expires_at  BIGINT  NOT NULL,
    UNIQUE (shop_id, order_ref)
);
CREATE INDEX beacons_expires ON beacons (expires_at);
CREATE INDEX beacons_shop_received ON beacons (shop_id, received_at);

-- The platform's own verdict on a destination's match quality (Meta's
-- Dataset Quality API), as last polled.
CREATE TABLE platform_quality (
    destination_id BIGINT  PRIMARY KEY REFERENCES destinations(id) ON DELETE CASCADE,
    score          DOUBLE PRECISION,
    checked_at     BIGINT  NOT NULL,
    details        TEXT    NOT NULL DEFAULT '{}',
    error          TEXT    NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE platform_quality;
DROP TABLE beacons;
DROP INDEX shops_public_id;
ALTER TABLE shops DROP COLUMN script_seen_at;
ALTER TABLE shops DROP COLUMN public_id;
