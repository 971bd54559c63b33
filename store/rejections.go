package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Reasons a webhook was refused before it was stored.
const (
	RejectBadSignature     = "bad_signature"
	RejectMissingSignature = "missing_signature"
	RejectStaleTimestamp   = "stale_timestamp"
)

// Rejections counts refused webhooks per shop and reason in memory and
// writes the counts every few seconds, so a flood of forged requests costs
// one upsert per shop and reason per flush, not a write each. Memory is
// bounded by the number of shops times three reasons: only known webhook
// keys reach signature checks.
type Rejections struct {
	st  *Store
	log *slog.Logger
	mu  sync.Mutex
	// pending counts by shop, minute and reason, not yet written.
	pending map[rejectionKey]*rejectionCount
}

type rejectionKey struct {
	shopID int64
	minute int64
	reason string
}

type rejectionCount struct {
	n    int64
	last time.Time
}

// NewRejections returns a recorder writing into s; Run writes.
func (s *Store) NewRejections(log *slog.Logger) *Rejections {
	return &Rejections{st: s, log: log, pending: map[rejectionKey]*rejectionCount{}}
}

// Record counts one refused webhook.
func (r *Rejections) Record(shopID int64, reason string, at time.Time) {
	k := rejectionKey{shopID: shopID, minute: ms(at.Truncate(time.Minute)), reason: reason}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.pending[k]
	if c == nil {
		if len(r.pending) >= 10_000 {
			return // unreachable with bounded shops; never let memory grow
		}
		c = &rejectionCount{}
		r.pending[k] = c
	}
	c.n++
	if at.After(c.last) {
		c.last = at
	}
}

// rejectionsKept is how long refusal counts are kept.
const rejectionsKept = 30 * 24 * time.Hour

// Run writes the counts every interval until ctx ends, then once more, and
// drops counts older than 30 days every hour.
func (r *Rejections) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			r.Flush(ctx)
		case now := <-prune.C:
			if err := r.st.PruneRejections(ctx, now.Add(-rejectionsKept)); err != nil && r.log != nil && ctx.Err() == nil {
				r.log.Warn("prune webhook rejections", slog.String("error", err.Error()))
			}
		}
	}
}

// Flush writes the pending counts. On an error they are kept and added to
// on the next flush.
func (r *Rejections) Flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[rejectionKey]*rejectionCount{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := r.st.write(ctx, func(tx *gormDB) error {
		for k, c := range batch {
			if err := tx.Exec(`INSERT INTO webhook_rejections (shop_id, minute, reason, count, last_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (shop_id, minute, reason) DO UPDATE SET count = webhook_rejections.count + excluded.count,
				last_at = CASE WHEN excluded.last_at > webhook_rejections.last_at THEN excluded.last_at ELSE webhook_rejections.last_at END`,
				k.shopID, k.minute, k.reason, c.n, ms(c.last)).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	if r.log != nil {
		r.log.Warn("record webhook rejections", slog.String("error", err.Error()))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, c := range batch {
		if p := r.pending[k]; p != nil {
			p.n += c.n
			if c.last.After(p.last) {
				p.last = c.last
			}
		} else if len(r.pending) < 10_000 {
			r.pending[k] = c
		}
	}
}

// Rejection sums one shop's refused webhooks for one reason.
type Rejection struct {
	ShopID int64
	Reason string
	Count  int64
	Last   time.Time
}

// RejectionsSince sums refused webhooks per shop and reason since since,
// most first.
func (s *Store) RejectionsSince(ctx context.Context, since time.Time) ([]Rejection, error) {
	var rows []struct {
		ShopID int64
		Reason string
		N      int64
		Last   int64
	}
	if err := s.rdb.WithContext(ctx).Raw(`SELECT shop_id, reason, SUM(count) AS n, MAX(last_at) AS last FROM webhook_rejections
		WHERE minute >= ? GROUP BY shop_id, reason ORDER BY n DESC, shop_id`, ms(since.Truncate(time.Minute))).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("rejections: %w", err)
	}
	out := make([]Rejection, 0, len(rows))
	for _, r := range rows {
		out = append(out, Rejection{ShopID: r.ShopID, Reason: r.Reason, Count: r.N, Last: fromMS(r.Last)})
	}
	return out, nil
}

// PruneRejections drops counts older than before.
func (s *Store) PruneRejections(ctx context.Context, before time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`DELETE FROM webhook_rejections WHERE minute < ?`, ms(before)).Error
	})
}
