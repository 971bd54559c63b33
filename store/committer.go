package store

import (
	"context"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"
)

// Committer groups webhooks arriving together into shared transactions
// (group commit). A webhook handler calls Commit and gets its answer once
// the transaction holding its event is durable; while one transaction
// commits, the next batch gathers, so batches grow with load and latency
// stays one commit at low load.
type Committer struct {
	s        *Store
	routing  Routing
	reqs     chan commitReq
	maxBatch int
	workers  int
	onCommit func(destinations []int64)
	onThread func()
	log      *slog.Logger
	stopped  chan struct{}
	// lastCommit is when the last batch was committed (Unix nanoseconds),
	// for Busy.
	lastCommit atomic.Int64
}

type commitReq struct {
	in   Incoming
	p    pending
	done chan commitRes
}

type commitRes struct {
	c   Committed
	err error
}

// CommitterConfig tunes a Committer.
type CommitterConfig struct {
	// MaxBatch caps the webhooks in one transaction (default 256).
	MaxBatch int
	// Workers is how many transactions may run at once (default 1). On
	// SQLite, which has one writer, it is always 1.
	Workers int
	// OnCommit is told which destinations got new deliveries.
	OnCommit func(destinations []int64)
	// OnWriterThread, on SQLite, runs once on the OS thread that will
	// run every batch from then on: the committer keeps that thread for
	// itself, so that the caller can give it the CPU before the rest (see
	// cmd/postback's writer priority).
	OnWriterThread func()
}

// NewCommitter returns a committer; start it with Run.
func (s *Store) NewCommitter(routing Routing, cfg CommitterConfig) *Committer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Workers <= 0 {
		// One on PostgreSQL too: while a transaction commits, the next
		// batch gathers, and it is larger for it. Two transactions at once
		// inserting into the same tables contend in PostgreSQL (the same
		// last index pages, relation extension) and make batches half as
		// large, and each batch costs the database a fixed amount. Measured
		// on the 2-core host with the database beside Postback, 2026-12-03,
		// alternating runs of 20,000 webhooks: 32 senders 2,970–3,115 /s
		// with one against 2,662–2,701 with two (PostgreSQL's CPU 201–219
		// against 298–305 µs per webhook); 256 senders 4,958–5,126 against
		// 4,115–4,615 /s (111–117 against 162–180 µs). Replicas each add one.
		cfg.Workers = 1
	}
	if s.dialect == SQLite {
		cfg.Workers = 1
	} else {
		cfg.OnWriterThread = nil // the work is in PostgreSQL's backends
	}
	return &Committer{
		s: s, routing: routing, reqs: make(chan commitReq, cfg.MaxBatch*cfg.Workers),
		maxBatch: cfg.MaxBatch, workers: cfg.Workers, onCommit: cfg.OnCommit, onThread: cfg.OnWriterThread, log: s.log,
		stopped: make(chan struct{}),
	}
}

// Run commits batches until ctx is cancelled; a batch already gathered is
// still committed. Commit calls made after Run returns fail with ErrClosed.
func (c *Committer) Run(ctx context.Context) {
	done := make(chan struct{})
	for i := 0; i < c.workers; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			c.loop(ctx)
		}()
	}
	for i := 0; i < c.workers; i++ {
		<-done
	}
	close(c.stopped)
}

func (c *Committer) loop(ctx context.Context) {
	if c.onThread != nil {
		// SQLite runs on the calling thread (writes use a context that
		// cannot be cancelled, so go-sqlite3 starts no goroutine). The
		// thread is never unlocked: it ends with the loop, so whatever
		// the hook did to it does not outlive the committer.
		runtime.LockOSThread()
		c.onThread()
	}
	batch := make([]commitReq, 0, c.maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case r := <-c.reqs:
			batch = append(batch, r)
		}
	gather:
		for len(batch) < c.maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		c.commit(context.WithoutCancel(ctx), batch)
	}
}

func (c *Committer) commit(ctx context.Context, batch []commitReq) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ps := make([]pending, len(batch))
	for i, r := range batch {
		ps[i] = r.p
	}
	res, err := c.s.commitPending(ctx, ps, c.routing)
	c.lastCommit.Store(time.Now().UnixNano())
	if err != nil && len(batch) > 1 {
		// One webhook must not fail its neighbours: commit them one by one,
		// each prepared afresh (the failed attempt marked the batch up).
		c.log.WarnContext(ctx, "batch commit failed; committing one by one", slog.Int("batch", len(batch)), slog.String("error", err.Error()))
		for _, r := range batch {
			p, perr := prepareIncoming(&r.in)
			if perr != nil {
				r.done <- commitRes{err: perr}
				continue
			}
			r.p = p
			c.commit(ctx, []commitReq{r})
		}
		return
	}
	var dests []int64
	for i, r := range batch {
		if err != nil {
			r.done <- commitRes{err: err}
			continue
		}
		dests = append(dests, res[i].Destinations...)
		r.done <- commitRes{c: res[i]}
	}
	if len(dests) > 0 && c.onCommit != nil {
		c.onCommit(dests)
	}
}

// Busy reports whether webhooks are flowing: a batch was committed within
// the last window. Background writers (the search indexer) use it to
// give the single writer to webhooks first.
func (c *Committer) Busy(window time.Duration) bool {
	last := c.lastCommit.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < window
}

// Commit stores one webhook durably and reports what became of it. An
// error means nothing was stored (the caller answers 503 and the store
// retries).
func (c *Committer) Commit(ctx context.Context, in Incoming) (Committed, error) {
	// Marshal here, on the caller's goroutine: the committer is one
	// goroutine and should only write.
	r := commitReq{in: in, done: make(chan commitRes, 1)}
	p, err := prepareIncoming(&r.in)
	if err != nil {
		return Committed{}, err
	}
	r.p = p
	select {
	case c.reqs <- r:
	case <-c.stopped:
		return Committed{}, ErrClosed
	case <-ctx.Done():
		return Committed{}, ctx.Err()
	}
	// Once queued, wait for the outcome even if the client went away: the
	// event may be committed, and the answer must not claim otherwise.
	select {
	case res := <-r.done:
		return res.c, res.err
	case <-c.stopped:
		// The batch holding r may still have been committed after the
		// loop saw the stop; r.done is buffered, so look once more.
		select {
		case res := <-r.done:
			return res.c, res.err
		default:
			return Committed{}, ErrClosed
		}
	}
}
