-- +goose Up
-- A webhook's transaction on PostgreSQL spent a third of its database
-- time on two things it gains nothing from (perf on the load command's
-- run, 256 senders, 2026-12-03):
--
-- * Foreign key checks, 14%: PostgreSQL checks each inserted row's
--   references by a query of its own that locks the parent row, five per
--   webhook. The ingest transaction now locks the batch's shops and
--   destinations once (FOR KEY SHARE, store/ingest_pg.go), so a shop or
--   destination cannot be deleted under it, and deleting one deletes what
--   referred to it in the same transaction (DeleteShop,
--   DeleteDestination). The search indexer's term rows (eight per
--   event, each checked) lose their key to events the same way: the
--   indexer locks a batch's events once and skips any deleted (store/
--   search.go). Deliveries keep their key to their event: refund
--   deliveries are added to older events, which the pruner may delete.
--   SQLite keeps every key: there a check is one look-up in a cached
--   page, and dropping a key would mean copying the table.
-- * Compressing bodies again, 6%: bodies are stored compressed (s2 or
--   zstd, see store/compact.go), so PostgreSQL's own compression of them
--   only fails before the body moves out of line. EXTERNAL moves it
--   without trying. Rows already written are not changed.
ALTER TABLE events ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_shop_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_shop_id_fkey;
ALTER TABLE order_conversions DROP CONSTRAINT IF EXISTS order_conversions_shop_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_destination_id_fkey;
ALTER TABLE event_search DROP CONSTRAINT IF EXISTS event_search_event_id_fkey;

-- +goose Down
ALTER TABLE event_search ADD CONSTRAINT event_search_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_destination_id_fkey
    FOREIGN KEY (destination_id) REFERENCES destinations(id) ON DELETE CASCADE;
ALTER TABLE order_conversions ADD CONSTRAINT order_conversions_shop_id_fkey
    FOREIGN KEY (shop_id) REFERENCES shops(id) ON DELETE CASCADE;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_shop_id_fkey
    FOREIGN KEY (shop_id) REFERENCES shops(id) ON DELETE CASCADE;
ALTER TABLE events ADD CONSTRAINT events_shop_id_fkey
    FOREIGN KEY (shop_id) REFERENCES shops(id) ON DELETE CASCADE;
ALTER TABLE events ALTER COLUMN body SET STORAGE EXTENDED;
