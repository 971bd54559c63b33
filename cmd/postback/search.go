package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/postbackhq/postback/store"
)

// searchBatch is how many queued events one indexing transaction covers:
// large, so each page of the index is written once for many events (the
// terms go in sorted), yet a few tens of milliseconds of the writer.
const searchBatch = 250

// indexSearch keeps the events list's search index current: every second
// it indexes the events the webhook path queued since, in batches, and
// catches up a backlog at once (a new install of this version indexes
// every older event). A search catches up by itself too (store.Events). On a store
// error it backs off (capped, jittered) and logs once when the errors start
// and once when they stop.
func indexSearch(ctx context.Context, st *store.Store, log *slog.Logger) {
	const idle, maxWait = time.Second, time.Minute
	wait, failing := idle, 0
	for {
		n, err := st.IndexSearch(ctx, searchBatch)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if failing == 0 {
				log.Error("search index: store error, backing off", slog.String("error", err.Error()))
			}
			failing++
			wait = min(maxWait, max(2*wait, 2*time.Second))
			wait = wait/2 + rand.N(wait/2)
		default:
			if failing > 0 {
				log.Info("search index: store recovered", slog.Int("failed_attempts", failing))
				failing = 0
			}
			wait = idle
			if n == searchBatch {
				wait = 0 // a backlog: go on at once
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
