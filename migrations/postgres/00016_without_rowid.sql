-- +goose Up
-- SQLite-only change (see sqlite/00016_without_rowid.sql): PostgreSQL
-- tables have no rowid, so there is nothing to do here.
SELECT 1;

-- +goose Down
SELECT 1;
