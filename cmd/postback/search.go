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
// While webhooks flow, batches are smaller (searchBusyBatch, a few
// milliseconds), so a webhook never waits long behind one.
const (
	searchBatch     = 250
	searchBusyBatch = 100
)

// searchYield is how much longer than its last batch took the indexer
// waits before the next while webhooks flow: at 3 it takes at most a
// quarter of the single writer, and the webhooks the rest. Indexing
// queued events costs the writer about a third of what ingesting them
// does (BenchmarkWriter, 2026-12-03), so at 3 it keeps up with all but
// the heaviest bursts, and catches up as soon as they end; a search
// catches up by itself before it runs (store.Events).
const searchYield = 3

// busyWindow: webhooks count as flowing while a batch was committed this
// recently.
const busyWindow = 200 * time.Millisecond

// indexSearch keeps the events list's search index current: every second
// it indexes the events the webhook path queued since, in batches, and
// catches up a backlog at once (a new install of this version indexes
// every older event). A search catches up by itself too (store.Events).
// While webhooks flow (busy reports it) it yields the writer to them (see
// searchYield). On a store error it backs off (capped, jittered) and logs
// once when the errors start and once when they stop.
func indexSearch(ctx context.Context, st *store.Store, busy func() bool, log *slog.Logger) {
	const idle, maxWait = time.Second, time.Minute
	wait, failing := idle, 0
	for {
		limit := searchBatch
		flowing := busy()
		if flowing {
			limit = searchBusyBatch
		}
		start := time.Now()
		n, err := st.IndexSearch(ctx, limit)
		took := time.Since(start)
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
			switch {
			case n == limit && flowing:
				wait = searchYield * took // a backlog, but webhooks first
			case n == limit:
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
