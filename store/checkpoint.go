package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// SQLite in WAL mode appends every commit to the -wal file; a checkpoint
// copies those pages back into the database file (and, with
// synchronous=FULL, syncs it) so the WAL can start over. By default the
// connection whose commit crosses 1,000 WAL pages runs that checkpoint
// inside its COMMIT: on Postback that is the single writer, so every few
// hundred webhooks one batch waited for a copy of megabytes and an extra
// fsync, and nothing else could commit meanwhile.
//
// Instead the writer leaves checkpoints to a background goroutine on the
// writer pool's spare connection, which runs PASSIVE checkpoints (they
// never block the writer or readers) after commits, at most every
// checkpointPause. The writer keeps a high automatic threshold (16,000
// pages, 64 MiB) only as a safety net, for when the
// background checkpoints cannot finish (a reader holding an old snapshot
// for a long time), so the WAL stays bounded either way.
//
// SQLite: https://www.sqlite.org/wal.html#automatic_checkpoint and
// https://www.sqlite.org/c3ref/wal_checkpoint_v2.html (read 2026-12-03).
const checkpointPause = 250 * time.Millisecond

// writerPragmas are set on SQLite's pinned writer connection. temp_store
// MEMORY keeps statement journals (SQLite's undo log for one multi-row
// statement inside a transaction) in memory instead of temporary files:
// they are bounded by one statement of one batch, and writing them out
// cost a third of the writer's bytes. Readers keep file-backed temp
// storage, so a large sort there cannot grow the process.
var writerPragmas = []string{
	"PRAGMA temp_store = MEMORY",
	"PRAGMA wal_autocheckpoint = 16000",
}

// checkpointer runs PASSIVE checkpoints in the background.
type checkpointer struct {
	pool   *sql.DB
	log    *slog.Logger
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	failed bool
}

func startCheckpointer(pool *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{pool: pool, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer that the WAL grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		c.checkpoint()
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointPause):
		}
	}
}

// checkpoint copies what the WAL holds into the database file, as far
// as readers allow, without waiting for any lock.
func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, log, done int
	err := c.pool.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	c.report(err)
}

// report logs a failure once, and the recovery once.
func (c *checkpointer) report(err error) {
	switch {
	case err != nil && !c.failed:
		c.failed = true
		c.log.Warn("background WAL checkpoint failed; the writer's automatic checkpoint takes over", slog.String("error", err.Error()))
	case err == nil && c.failed:
		c.failed = false
		c.log.Info("background WAL checkpoint works again")
	}
}

func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return nil
}
