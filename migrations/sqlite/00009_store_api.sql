-- +goose Up
-- A shop's connection to its store's own API (issue 12): where the store
-- is, its sealed credentials, the state of the connection, and the
-- reconciliation runs that compare the store's paid orders with the
-- webhooks received.

-- Events say whether a webhook brought them or reconciliation backfilled
-- them from the store's API.
ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT 'webhook';

CREATE TABLE shop_store_api (
    shop_id            BIGINT  PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
    store_url          TEXT    NOT NULL DEFAULT '',
    credentials        BLOB,             -- sealed JSON object
    -- status is ok, auth_failed, unreachable, throttled or error, with the
    -- safe message in status_error; status_at is when it was set.
    status             TEXT    NOT NULL DEFAULT '',
    status_error       TEXT    NOT NULL DEFAULT '',
    status_at          BIGINT  NOT NULL DEFAULT 0,
    -- next_reconcile_at is claimed with a compare-and-set so that one
    -- replica runs each interval's reconciliation.
    next_reconcile_at  BIGINT  NOT NULL DEFAULT 0,
    backoff_until      BIGINT  NOT NULL DEFAULT 0,
    failures           INTEGER NOT NULL DEFAULT 0,
    -- The last check of the store's webhook subscriptions: ok, problems
    -- (one per line), when; next_health_at is claimed like reconciliation.
    webhooks_ok        BOOLEAN NOT NULL DEFAULT FALSE,
    webhooks_problems  TEXT    NOT NULL DEFAULT '',
    webhooks_checked_at BIGINT NOT NULL DEFAULT 0,
    next_health_at     BIGINT  NOT NULL DEFAULT 0,
    updated_at         BIGINT  NOT NULL
);

-- Stripe shops that already gave a restricted key are connected.
INSERT INTO shop_store_api (shop_id, updated_at)
    SELECT id, 0 FROM shops WHERE source = 'stripe' AND stripe_api_key IS NOT NULL AND length(stripe_api_key) > 0;

CREATE TABLE reconcile_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id       BIGINT  NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    trigger_kind  TEXT    NOT NULL DEFAULT 'schedule', -- schedule or manual
    started_at    BIGINT  NOT NULL,
    finished_at   BIGINT  NOT NULL DEFAULT 0,
    window_start  BIGINT  NOT NULL,
    window_end    BIGINT  NOT NULL,
    checked       INTEGER NOT NULL DEFAULT 0,
    missing       INTEGER NOT NULL DEFAULT 0,
    backfilled    INTEGER NOT NULL DEFAULT 0,
    too_old       INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX reconcile_runs_shop ON reconcile_runs (shop_id, id);

-- Alerts: where they go (per shop, or global with shop_id 0), what is
-- wrong (one open incident per shop and key), and one notification per
-- incident, channel and phase (opened, resolved), retried until sent.
CREATE TABLE alert_channels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id     BIGINT  NOT NULL DEFAULT 0,
    kind        TEXT    NOT NULL,            -- webhook, slack or email
    target      BLOB NOT NULL,           -- sealed URL or e-mail address
    label       TEXT    NOT NULL DEFAULT '', -- what the UI shows of the target
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    last_error  TEXT    NOT NULL DEFAULT '',
    last_sent_at BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE alert_incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id     BIGINT  NOT NULL,
    incident_key TEXT   NOT NULL,
    kind        TEXT    NOT NULL,
    summary     TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL DEFAULT '',
    affected    INTEGER NOT NULL DEFAULT 0,
    opened_at   BIGINT  NOT NULL,
    resolved_at BIGINT  NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alert_incidents_open ON alert_incidents (shop_id, incident_key) WHERE resolved_at = 0;

CREATE TABLE alert_notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     BIGINT  NOT NULL REFERENCES alert_incidents(id) ON DELETE CASCADE,
    channel_id      BIGINT  NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    phase           TEXT    NOT NULL,        -- opened or resolved
    status          TEXT    NOT NULL DEFAULT 'pending', -- pending, sent, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    sent_at         BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (incident_id, channel_id, phase)
);
CREATE INDEX alert_notifications_due ON alert_notifications (status, next_attempt_at);

-- +goose Down
DROP TABLE alert_notifications;
DROP TABLE alert_incidents;
DROP TABLE alert_channels;
DROP TABLE reconcile_runs;
DROP TABLE shop_store_api;
ALTER TABLE events DROP COLUMN origin;
