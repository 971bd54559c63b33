// Package delivery sends committed conversions to ad platforms: it claims
// due deliveries per destination, sends them in batches, classifies each
// outcome, and schedules retries. Several processes may run it on one
// PostgreSQL database; leases keep them from sending the same delivery.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// Enricher completes a conversion before it is sent (for example Stripe
// line items fetched with the shop's API key). It must not fail the
// delivery: on error it returns the conversion as it was.
type Enricher func(ctx context.Context, shopID int64, c mapping.Conversion) mapping.Conversion

// Config wires a Worker.
type Config struct {
	Store   *store.Store
	Senders map[string]platforms.Sender
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Owner names this process in leases; default host name + random.
	Owner string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Lease is how long a claim holds before another process may take it;
	// it must outlast one send (default 2 minutes).
	Lease time.Duration
	// Concurrency is how many destinations send at once (default 8).
	Concurrency int
	// Poll is how often due work is looked for when nothing wakes the
	// worker (default 1 s).
	Poll time.Duration
	// Backoff is the first retry delay, doubled per attempt (default 30 s),
	// up to MaxBackoff (default 1 h).
	Backoff    time.Duration
	MaxBackoff time.Duration
	Enrich     Enricher
	// StatusDelay is how long after delivery a platform's own verdict is
	// first read back (default 5 minutes), StatusEvery how often after that
	// (default 10 minutes), until StatusGiveUp after delivery (default 24
	// hours); StatusPoll is how often due checks are looked for (default 1
	// minute).
	StatusDelay  time.Duration
	StatusEvery  time.Duration
	StatusGiveUp time.Duration
	StatusPoll   time.Duration
}

// Worker delivers conversions.
type Worker struct {
	cfg      Config
	wake     chan struct{}
	mu       sync.Mutex
	inflight map[int64]bool
}

// New returns a worker; start it with Run.
func New(cfg Config) *Worker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.StatusDelay <= 0 {
		cfg.StatusDelay = 5 * time.Minute
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 10 * time.Minute
	}
	if cfg.StatusGiveUp <= 0 {
		cfg.StatusGiveUp = 24 * time.Hour
	}
	if cfg.StatusPoll <= 0 {
		cfg.StatusPoll = time.Minute
	}
	return &Worker{cfg: cfg, wake: make(chan struct{}, 1), inflight: map[int64]bool{}}
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "postback"
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return host
	}
	return host + "-" + hex.EncodeToString(b)
}

// Notify wakes the worker: new deliveries were committed.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled, then lets in-flight sends finish
// (their requests are not cut off), records them, and gives back its
// leases so another process can continue at once.
func (w *Worker) Run(ctx context.Context) error {
	// Sends run on a context that outlives ctx: shutdown stops claiming
	// new work but lets requests already on the wire be answered.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	sem := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	status := time.NewTicker(w.cfg.StatusPoll)
	defer status.Stop()
	statusBusy := make(chan struct{}, 1) // one status round at a time
	timer := time.NewTimer(0)
	defer timer.Stop()
	w.expire(ctx)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-w.wake:
		case <-timer.C:
		case <-expire.C:
			w.expire(ctx)
		case <-status.C:
			select {
			case statusBusy <- struct{}{}:
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-statusBusy }()
					w.checkStatuses(ctx)
				}()
			default:
			}
		}
		ids, err := w.cfg.Store.DueDestinations(ctx, w.cfg.Now(), 256)
		if err != nil && ctx.Err() == nil {
			w.cfg.Log.ErrorContext(ctx, "look for due deliveries", slog.String("error", err.Error()))
		}
	dispatch:
		for _, id := range ids {
			if !w.start(id) {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				w.finish(id)
				break dispatch
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem; w.finish(id); w.Notify() }()
				w.drain(ctx, sendCtx, id)
			}()
		}
		timer.Reset(w.cfg.Poll)
	}
	wg.Wait()
	relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.cfg.Store.ReleaseLeases(relCtx, w.cfg.Owner); err != nil {
		w.cfg.Log.WarnContext(relCtx, "release leases", slog.String("error", err.Error()))
	}
	return nil
}

func (w *Worker) start(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[id] {
		return false
	}
	w.inflight[id] = true
	return true
}

func (w *Worker) finish(id int64) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

func (w *Worker) expire(ctx context.Context) {
	n, err := w.cfg.Store.ExpireDeliveries(ctx, w.cfg.Now())
	if err != nil {
		if ctx.Err() == nil {
			w.cfg.Log.ErrorContext(ctx, "expire deliveries", slog.String("error", err.Error()))
		}
		return
	}
	if n > 0 {
		w.cfg.Log.WarnContext(ctx, "deliveries expired before they could be sent", slog.Int64("count", n))
		w.cfg.Metrics.Deliveries.WithLabelValues("any", "expired").Add(float64(n))
	}
}

// drain sends one destination's due deliveries, batch after batch, until
// none is due, the platform pushes back, or shutdown begins.
func (w *Worker) drain(runCtx, sendCtx context.Context, destID int64) {
	for runCtx.Err() == nil {
		dest, err := w.cfg.Store.Destination(sendCtx, destID)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				w.cfg.Log.ErrorContext(sendCtx, "load destination", slog.Int64("destination_id", destID), slog.String("error", err.Error()))
			}
			return
		}
		sender := w.cfg.Senders[dest.Platform]
		batch := 100
		if sender != nil {
			batch = sender.BatchSize()
		}
		claimed, err := w.cfg.Store.Claim(sendCtx, destID, w.cfg.Owner, batch, w.cfg.Now(), w.cfg.Lease)
		if err != nil {
			w.cfg.Log.ErrorContext(sendCtx, "claim deliveries", slog.Int64("destination_id", destID), slog.String("error", err.Error()))
			return
		}
		if len(claimed) == 0 {
			return
		}
		outs, verdict := w.sendBatch(sendCtx, dest, sender, claimed)
		if err := w.cfg.Store.Complete(sendCtx, w.cfg.Owner, outs, w.cfg.Now()); err != nil {
			// The leases run out and the deliveries are sent again: at
			// least once, never lost.
			w.cfg.Log.ErrorContext(sendCtx, "record delivery outcomes", slog.Int64("destination_id", destID), slog.String("error", err.Error()))
			return
		}
		for _, o := range outs {
			outcome := o.Status
			if o.Parked {
				outcome = "parked"
			}
			if o.CountAttempt {
				w.cfg.Metrics.Deliveries.WithLabelValues(dest.Platform, outcome).Inc()
			}
		}
		switch {
		case verdict.auth != "":
			w.cfg.Log.WarnContext(sendCtx, "platform rejected credentials; destination parked until they are replaced",
				slog.Int64("destination_id", destID), slog.String("platform", dest.Platform))
			if err := w.cfg.Store.ParkDestination(sendCtx, destID, verdict.auth, w.cfg.Now()); err != nil {
				w.cfg.Log.ErrorContext(sendCtx, "park destination", slog.Int64("destination_id", destID), slog.String("error", err.Error()))
			}
			return
		case !verdict.throttledUntil.IsZero():
			if err := w.cfg.Store.ThrottleDestination(sendCtx, destID, verdict.throttledUntil); err != nil {
				w.cfg.Log.ErrorContext(sendCtx, "throttle destination", slog.Int64("destination_id", destID), slog.String("error", err.Error()))
			}
			return
		case verdict.failedWhole:
			// The platform is down or unreachable: the next batch would
			// fail the same way, so wait for the backoff.
			return
		}
	}
}
