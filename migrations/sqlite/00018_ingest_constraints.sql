-- +goose Up
-- PostgreSQL-only change (see postgres/00018_ingest_constraints.sql):
-- SQLite keeps its foreign keys, whose checks cost it little, and has no
-- out-of-line storage to configure.
SELECT 1;

-- +goose Down
SELECT 1;
