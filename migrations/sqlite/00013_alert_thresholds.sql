-- +goose Up
-- When alerts fire (issue 12): shop_id 0 holds the global thresholds, a
-- shop's row overrides them field by field; NULL means "as the level
-- above" (the shop: the global value; the global row: Postback's default).
CREATE TABLE alert_thresholds (
    shop_id          BIGINT  PRIMARY KEY,
    -- a destination with conversions waiting for a retry this long
    failing_minutes  INTEGER,
    -- a platform's accounted-for share under this percentage, once the
    -- shop had at least share_min_orders paid orders in the day
    share_percent    INTEGER,
    share_min_orders INTEGER,
    -- no webhook for silent_hours, after at least usual_webhooks in the
    -- six days before
    silent_hours     INTEGER,
    usual_webhooks   INTEGER,
    updated_at       BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE alert_thresholds;
