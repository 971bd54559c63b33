-- +goose Up
-- Sessions end after an idle period as well as at expires_at.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- One-time first-run setup tokens (SHA-256 of the token only). Each
-- replica that starts with no user adds its own; creating the first user
-- deletes them all.
CREATE TABLE setup_tokens (
    token_hash TEXT   PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE setup_tokens;
DROP INDEX sessions_expires_at;
DROP INDEX sessions_user_id;
ALTER TABLE sessions DROP COLUMN last_seen_at;
