-- +goose Up
-- Times are unix milliseconds (UTC) in BIGINT columns, so that the same
-- comparisons work on SQLite and PostgreSQL.

CREATE TABLE shops (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL,
    source             TEXT    NOT NULL,
    webhook_key        TEXT    NOT NULL UNIQUE,
    signing_secret     BLOB,             -- AES-256-GCM sealed
    previous_secret    BLOB,             -- sealed; still accepted during rotation
    conversion_trigger TEXT    NOT NULL,
    rules              TEXT    NOT NULL DEFAULT '{}',
    stripe_api_key     BLOB,             -- sealed restricted key
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL
);

CREATE TABLE destinations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id         BIGINT  NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    platform        TEXT    NOT NULL,
    credentials     BLOB    NOT NULL,    -- sealed JSON object
    settings        TEXT    NOT NULL DEFAULT '{}',
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    auth_failed_at  BIGINT  NOT NULL DEFAULT 0,
    auth_error      TEXT    NOT NULL DEFAULT '',
    throttled_until BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX destinations_shop ON destinations (shop_id);

CREATE TABLE events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id             BIGINT  NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    source              TEXT    NOT NULL,
    topic               TEXT    NOT NULL DEFAULT '',
    kind                TEXT    NOT NULL DEFAULT '',
    delivery_id         TEXT    NOT NULL DEFAULT '',
    order_id            TEXT    NOT NULL DEFAULT '',
    status              TEXT    NOT NULL,
    reason              TEXT    NOT NULL DEFAULT '',
    duplicate_of        BIGINT  NOT NULL DEFAULT 0,
    received_at         BIGINT  NOT NULL,
    occurred_at         BIGINT  NOT NULL DEFAULT 0,
    value               TEXT    NOT NULL DEFAULT '',
    currency            TEXT    NOT NULL DEFAULT '',
    event_name          TEXT    NOT NULL DEFAULT '',
    conversion_event_id TEXT    NOT NULL DEFAULT '',
    test                BOOLEAN NOT NULL DEFAULT FALSE,
    conversion          TEXT    NOT NULL DEFAULT '',
    refunds             TEXT    NOT NULL DEFAULT '',
    match_info          TEXT    NOT NULL DEFAULT '',
    body                BLOB
);
CREATE INDEX events_shop ON events (shop_id, id);
CREATE INDEX events_status ON events (status, id);
CREATE INDEX events_order ON events (shop_id, order_id);

-- One row per store delivery id: a second delivery with the same id is a
-- duplicate.
CREATE TABLE webhook_deliveries (
    shop_id     BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    delivery_id TEXT   NOT NULL,
    event_id    BIGINT NOT NULL,
    PRIMARY KEY (shop_id, delivery_id)
);

-- One row per converted order (and each of its aliases): the same order is
-- converted at most once.
CREATE TABLE order_conversions (
    shop_id    BIGINT NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    order_id   TEXT   NOT NULL,
    event_id   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (shop_id, order_id)
);

CREATE TABLE refunds (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    shop_id             BIGINT  NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    event_id            BIGINT  NOT NULL,          -- the refund webhook's event
    conversion_event_id BIGINT  NOT NULL DEFAULT 0, -- the original conversion's event, 0 if unknown
    order_id            TEXT    NOT NULL,
    refund_id           TEXT    NOT NULL,
    amount              TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    full_refund         BOOLEAN NOT NULL DEFAULT FALSE,
    refunded_at         BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    UNIQUE (shop_id, refund_id)
);
CREATE INDEX refunds_order ON refunds (shop_id, order_id);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        BIGINT  NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    destination_id  BIGINT  NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    shop_id         BIGINT  NOT NULL,
    platform        TEXT    NOT NULL,
    kind            TEXT    NOT NULL DEFAULT 'conversion',
    refund_id       BIGINT  NOT NULL DEFAULT 0,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    error_class     TEXT    NOT NULL DEFAULT '',
    parked          BOOLEAN NOT NULL DEFAULT FALSE,
    next_attempt_at BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    delivered_at    BIGINT  NOT NULL DEFAULT 0,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    payload         TEXT    NOT NULL DEFAULT '',
    response        TEXT    NOT NULL DEFAULT '',
    status_code     INTEGER NOT NULL DEFAULT 0,
    match_info      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (event_id, destination_id, kind)
);
CREATE INDEX deliveries_due ON deliveries (destination_id, next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_status ON deliveries (status, event_id);

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT  NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  BIGINT  NOT NULL,
    latency_ms  INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    request     TEXT    NOT NULL DEFAULT '',
    response    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, attempt);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    prefix       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE refunds;
DROP TABLE order_conversions;
DROP TABLE webhook_deliveries;
DROP TABLE events;
DROP TABLE destinations;
DROP TABLE shops;
