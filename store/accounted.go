package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Accounted is the accounted-for figure of one shop over a window: how
// many paid orders Postback knows of (by webhook, or recovered by
// reconciliation from the store's API), and per platform what became of
// their conversions.
type Accounted struct {
	ShopID       int64
	Since, Until time.Time
	// PaidInStore counts the shop's converted orders received in the window:
	// by webhook, recovered by reconciliation and sent, and recovered but
	// too old for every destination (recorded, every delivery skipped
	// too_old).
	PaidInStore               int64
	ReceivedByWebhook         int64
	RecoveredByReconciliation int64
	TooOld                    int64
	Platforms                 []AccountedPlatform
}

// AccountedPlatform is one platform's share of a shop's paid orders.
type AccountedPlatform struct {
	Platform string
	// Sent counts conversions Postback tried to send; Accepted those the
	// platform took; Failed those given up; Waiting those still pending or
	// retrying; Skipped those Postback chose not to send, by reason.
	Sent     int64
	Accepted int64
	Failed   int64
	Waiting  int64
	Skipped  map[string]int64
}

// Share is the part of the paid orders this platform accounts for:
// accepted or deliberately skipped, 0 to 1; ok is false with no orders.
func (p AccountedPlatform) Share(paid int64) (float64, bool) {
	if paid == 0 {
		return 0, false
	}
	var skipped int64
	for _, n := range p.Skipped {
		skipped += n
	}
	return min(1, float64(p.Accepted+skipped)/float64(paid)), true
}

// Accounted computes the figure for one shop over [since, until).
func (s *Store) Accounted(ctx context.Context, shopID int64, since, until time.Time) (Accounted, error) {
	a := Accounted{ShopID: shopID, Since: since, Until: until}
	db := s.rdb.WithContext(ctx)
	type originRow struct {
		Origin string
		N      int64
	}
	var origins []originRow
	if err := db.Table("events").Select("origin, COUNT(*) AS n").
		Where("shop_id = ? AND status = ? AND conversion <> '' AND received_at >= ? AND received_at < ?", shopID, StatusAccepted, ms(since), ms(until)).
		Group("origin").Scan(&origins).Error; err != nil {
		return a, fmt.Errorf("accounted events: %w", err)
	}
	for _, o := range origins {
		if o.Origin == OriginReconciliation {
			a.RecoveredByReconciliation += o.N
		} else {
			a.ReceivedByWebhook += o.N
		}
	}
	// Orders reconciliation found past every destination's window are
	// recorded events whose every conversion delivery was skipped too_old.
	if err := db.Raw(`SELECT COUNT(*) FROM events e WHERE e.shop_id = ? AND e.origin = ? AND e.status = ? AND e.conversion <> ''
		AND e.received_at >= ? AND e.received_at < ?
		AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.kind = ?)
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.kind = ? AND NOT (d.status = ? AND d.error_class = 'too_old'))`,
		shopID, OriginReconciliation, StatusAccepted, ms(since), ms(until), KindConversion, KindConversion, DeliverySkipped).Scan(&a.TooOld).Error; err != nil {
		return a, fmt.Errorf("accounted too old: %w", err)
	}
	a.RecoveredByReconciliation -= a.TooOld
	a.PaidInStore = a.ReceivedByWebhook + a.RecoveredByReconciliation + a.TooOld
	type delRow struct {
		Platform  string
		Status    string
		LastError string
		Attempts  int
		N         int64
	}
	var rows []delRow
	// Skipped deliveries are counted by reason: the delivery's error
	// class (too_old, invalid, not_supported, …), the worker's vocabulary.
	if err := db.Table("deliveries AS d").Select("d.platform, d.status, CASE WHEN d.status = 'skipped' THEN d.error_class ELSE '' END AS last_error, CASE WHEN d.attempts > 0 THEN 1 ELSE 0 END AS attempts, COUNT(*) AS n").
		Joins("JOIN events e ON e.id = d.event_id").
		Where("d.shop_id = ? AND d.kind = ? AND e.received_at >= ? AND e.received_at < ?", shopID, KindConversion, ms(since), ms(until)).
		Group("d.platform, d.status, CASE WHEN d.status = 'skipped' THEN d.error_class ELSE '' END, CASE WHEN d.attempts > 0 THEN 1 ELSE 0 END").
		Scan(&rows).Error; err != nil {
		return a, fmt.Errorf("accounted deliveries: %w", err)
	}
	by := map[string]*AccountedPlatform{}
	for _, r := range rows {
		p := by[r.Platform]
		if p == nil {
			p = &AccountedPlatform{Platform: r.Platform, Skipped: map[string]int64{}}
			by[r.Platform] = p
		}
		if r.Attempts > 0 {
			p.Sent += r.N
		}
		switch r.Status {
		case DeliveryDelivered:
			p.Accepted += r.N
		case DeliveryFailed:
			p.Failed += r.N
		case DeliverySkipped:
			reason := r.LastError
			if reason == "" {
				reason = "unspecified"
			}
			p.Skipped[reason] += r.N
		default:
			p.Waiting += r.N
		}
	}
	for _, p := range by {
		a.Platforms = append(a.Platforms, *p)
	}
	sort.Slice(a.Platforms, func(i, j int) bool { return a.Platforms[i].Platform < a.Platforms[j].Platform })
	return a, nil
}
