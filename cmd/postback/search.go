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
// quarter of the single writer, and the webhooks the rest. Indexing a
// burst's events (each with its own email and click id, so random index
// pages) costs the writer about half of what ingesting them does
// (BenchmarkWriter, 2026-12-03: 70 of 180 µs), so at 3 it falls behind
// a burst that holds the writer; on SQLite it waits such bursts out
// instead (searchDeferShare) and indexes when they end.
const searchYield = 3

// busyWindow: webhooks count as flowing while a batch was committed this
// recently.
const busyWindow = 200 * time.Millisecond

// Where searches read the queue as well as the index (SQLite, see
// store.SearchReadsQueue), the indexer leaves the single writer to
// webhooks altogether while they keep it busy (searchDeferShare of the
// last round's time or more), until the queue holds searchBacklogMax
// events; past that it indexes at its yielding pace again, so a search
// never reads more than about that many queued rows (a few milliseconds)
// and the index keeps up with any sustained rate. A burst's terms are
// then indexed once it ends, in the large idle batches that write each
// index page once for many events. Measured with postback-load on the
// 2-core host (2026-12-03): indexing took about a tenth of the server's
// CPU during a burst, and held the writer a few milliseconds at a time.
const (
	searchDeferShare = 0.5
	searchBacklogMax = 30000
)

// deferIndexing decides whether the indexer sits a round out: webhooks
// flow and others took at least searchDeferShare of the writer, searches read
// the queue, and its backlog is within searchBacklogMax (on an error
// counting it, index: the index must not fall behind unseen).
func deferIndexing(flowing bool, share float64, readsQueue bool, backlog func() (int64, error)) bool {
	if !flowing || !readsQueue || share < searchDeferShare {
		return false
	}
	n, err := backlog()
	return err == nil && n <= searchBacklogMax
}

// writerLoad reports whether webhooks flow and what share of the writer
// others than the indexer (webhooks, delivery outcomes, compaction) took
// since the last call.
type writerLoad struct {
	busy     func() bool
	busyTime func() time.Duration
	at       time.Time
	last     time.Duration
}

func newWriterLoad(busy func() bool, busyTime func() time.Duration) *writerLoad {
	w := &writerLoad{busy: busy, busyTime: busyTime}
	w.sample() // the first round's share is measured from here
	return w
}

func (w *writerLoad) sample() (flowing bool, share float64) {
	now, total := time.Now(), w.busyTime()
	if !w.at.IsZero() && now.After(w.at) {
		share = float64(total-w.last) / float64(now.Sub(w.at))
	}
	w.at, w.last = now, total
	return w.busy(), share
}

// indexSearch keeps the events list's search index current: every second
// it indexes the events the webhook path queued since, in batches, and
// catches up a backlog at once (a new install of this version indexes
// every older event). A search catches up by itself too (store.Events).
// While webhooks flow it yields the writer to them (see searchYield and
// searchDeferShare). On a store error it backs off (capped, jittered) and
// logs once when the errors start and once when they stop.
func indexSearch(ctx context.Context, st *store.Store, load *writerLoad, log *slog.Logger) {
	const idle, maxWait = time.Second, time.Minute
	wait, failing := idle, 0
	for {
		limit := searchBatch
		flowing, share := load.sample()
		if flowing {
			limit = searchBusyBatch
		}
		deferred := deferIndexing(flowing, share, st.SearchReadsQueue(), func() (int64, error) {
			return st.SearchBacklog(ctx)
		})
		var n int
		var err error
		start := time.Now()
		if !deferred {
			n, err = st.IndexSearch(ctx, limit)
		}
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
			case deferred:
				wait = busyWindow // look again soon: the burst may have ended
			case n == limit && (flowing || share >= searchDeferShare):
				// A backlog, but webhooks first, and the drain that
				// follows a burst (its delivery outcomes) too.
				wait = searchYield * took
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
