package delivery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/postbackhq/postback/internal/metrics"
)

// storeHealth is the worker's shared view of the database: after a store
// error every goroutine of the worker waits (capped exponential backoff
// with jitter) before touching the store again, so a full disk or a lost
// database costs a few statements a second, not thousands, and the log
// says once that the trouble began and once that it ended.
type storeHealth struct {
	log      *slog.Logger
	metrics  *metrics.Metrics
	min, max time.Duration

	mu      sync.Mutex
	failing bool
	errors  int
	since   time.Time
	delay   time.Duration
	until   time.Time
}

func newStoreHealth(log *slog.Logger, m *metrics.Metrics, min, max time.Duration) *storeHealth {
	return &storeHealth{log: log, metrics: m, min: min, max: max}
}

// fail records a store error in op and starts (or lengthens) the pause.
func (h *storeHealth) fail(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return // shutting down: not the database's fault
	}
	h.metrics.StoreErrors.WithLabelValues(op).Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	h.errors++
	if !h.failing {
		h.failing, h.since, h.delay = true, now, h.min
		h.log.ErrorContext(ctx, "database errors: delivery backs off until the database answers again",
			slog.String("op", op), slog.String("error", err.Error()))
	} else if now.Before(h.until) {
		return // several goroutines failed at once: one pause
	} else {
		h.delay = min(h.delay*2, h.max)
	}
	h.until = now.Add(h.delay/2 + rand.N(h.delay/2+1))
}

// ok records that the store answered.
func (h *storeHealth) ok(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing {
		return
	}
	h.log.InfoContext(ctx, "database answers again; delivery resumes",
		slog.Int("errors", h.errors), slog.Duration("after", time.Since(h.since).Round(time.Millisecond)))
	h.failing, h.errors, h.delay, h.until = false, 0, 0, time.Time{}
}

// wait is how long the worker should leave the store alone.
func (h *storeHealth) wait() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Until(h.until)
}
