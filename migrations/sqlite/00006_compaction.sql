-- +goose Up
-- Finished events are compacted in the background (store.Compactor): the
-- raw body is zstd-compressed in place (body_codec 1; 2 = looked at and
-- left as is), and a finished delivery's payload and response, and its
-- attempts' request and response, move into one zstd-compressed JSON
-- column, packed. Readers decompress transparently.
ALTER TABLE events ADD COLUMN body_codec INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN packed BLOB;
ALTER TABLE delivery_attempts ADD COLUMN packed BLOB;

-- +goose Down
ALTER TABLE delivery_attempts DROP COLUMN packed;
ALTER TABLE deliveries DROP COLUMN packed;
ALTER TABLE events DROP COLUMN body_codec;
