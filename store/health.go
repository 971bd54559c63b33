package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// DestinationTrouble is a destination whose conversions are stuck now:
// its credentials were refused, or its deliveries keep failing.
type DestinationTrouble struct {
	DestinationID int64
	ShopID        int64
	Platform      string
	// Parked counts deliveries waiting for new credentials; Failing those
	// that failed at least once and wait for a retry.
	Parked, Failing int64
	// Since is when the trouble began: the credentials' refusal, or the
	// oldest failing delivery's creation.
	Since time.Time
	// OldestExpires is when the first waiting conversion leaves the
	// platform's acceptance window.
	OldestExpires time.Time
	// LastError is the platform's most recent refusal.
	LastError string
}

// DestinationTroubles lists destinations with parked or failing
// deliveries, most waiting first.
func (s *Store) DestinationTroubles(ctx context.Context) ([]DestinationTrouble, error) {
	db := s.rdb.WithContext(ctx)
	var rows []struct {
		DestinationID int64
		ShopID        int64
		Platform      string
		Parked        int64
		Failing       int64
		Since         int64
		OldestExpires int64
	}
	// A delivery waits for credentials when it was parked by a refusal,
	// or when its destination's credentials were refused since (the
	// worker does not claim those).
	if err := db.Raw(`SELECT d.destination_id, d.shop_id, d.platform,
			SUM(CASE WHEN d.parked OR x.auth_failed_at <> 0 THEN 1 ELSE 0 END) AS parked,
			SUM(CASE WHEN NOT (d.parked OR x.auth_failed_at <> 0) AND d.attempts > 0 THEN 1 ELSE 0 END) AS failing,
			MIN(CASE WHEN d.parked OR x.auth_failed_at <> 0 OR d.attempts > 0 THEN d.created_at END) AS since,
			MIN(d.expires_at) AS oldest_expires
		FROM deliveries d JOIN destinations x ON x.id = d.destination_id
		WHERE d.status IN (?, ?)
		GROUP BY d.destination_id, d.shop_id, d.platform
		HAVING SUM(CASE WHEN d.parked OR x.auth_failed_at <> 0 OR d.attempts > 0 THEN 1 ELSE 0 END) > 0`,
		DeliveryPending, DeliveryRetrying).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("destination troubles: %w", err)
	}
	out := make([]DestinationTrouble, 0, len(rows))
	for _, r := range rows {
		t := DestinationTrouble{
			DestinationID: r.DestinationID, ShopID: r.ShopID, Platform: r.Platform, Parked: r.Parked, Failing: r.Failing,
			Since: fromMS(r.Since), OldestExpires: fromMS(r.OldestExpires),
		}
		var d struct {
			AuthFailedAt int64
			AuthError    string
		}
		if err := db.Raw(`SELECT auth_failed_at, auth_error FROM destinations WHERE id = ?`, r.DestinationID).Scan(&d).Error; err != nil {
			return nil, fmt.Errorf("destination troubles: %w", err)
		}
		if t.Parked > 0 && d.AuthFailedAt != 0 {
			t.Since, t.LastError = fromMS(d.AuthFailedAt), d.AuthError
		}
		if t.LastError == "" {
			var last []string
			if err := db.Raw(`SELECT last_error FROM deliveries WHERE destination_id = ? AND status IN (?, ?) AND last_error <> ''
				ORDER BY updated_at DESC LIMIT 1`, r.DestinationID, DeliveryPending, DeliveryRetrying).Scan(&last).Error; err != nil {
				return nil, fmt.Errorf("destination troubles: %w", err)
			}
			if len(last) > 0 {
				t.LastError = last[0]
			}
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].Parked+out[i].Failing, out[j].Parked+out[j].Failing; a != b {
			return a > b
		}
		return out[i].DestinationID < out[j].DestinationID
	})
	return out, nil
}

// ShopActivity is one shop's webhooks over the last days, to notice a shop
// that went quiet.
type ShopActivity struct {
	ShopID int64
	// Count is how many webhooks arrived in the window; Last the newest.
	Count int64
	Last  time.Time
}

// ShopActivities counts each shop's webhooks received since since, with
// the newest one's time (zero when none arrived in the window).
func (s *Store) ShopActivities(ctx context.Context, since time.Time) (map[int64]ShopActivity, error) {
	var rows []struct {
		ShopID int64
		N      int64
		Last   int64
	}
	if err := s.rdb.WithContext(ctx).Raw(`SELECT shop_id, COUNT(*) AS n, MAX(received_at) AS last FROM events
		WHERE received_at >= ? GROUP BY shop_id`, ms(since)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("shop activity: %w", err)
	}
	out := make(map[int64]ShopActivity, len(rows))
	for _, r := range rows {
		out[r.ShopID] = ShopActivity{ShopID: r.ShopID, Count: r.N, Last: fromMS(r.Last)}
	}
	return out, nil
}

// LastEvent is the newest event received for a shop, ErrNotFound when
// there is none.
func (s *Store) LastEvent(ctx context.Context, shopID int64) (Event, error) {
	var r eventRow
	if err := s.rdb.WithContext(ctx).Omit("body").Where("shop_id = ?", shopID).Order("id DESC").Limit(1).Take(&r).Error; err != nil {
		return Event{}, notFound(err)
	}
	return rowToEvent(r)
}

// Cell is one shop's deliveries to one platform in a window: the
// dashboard's shop × platform grid.
type Cell struct {
	ShopID   int64
	Platform string
	// Delivered and Failed finished in the window; Waiting are pending or
	// retrying now, Parked of them for new credentials.
	Delivered, Failed, Waiting, Parked int64
	// Skipped finished in the window without being sent (Postback's
	// choice); never counted in the success rate.
	Skipped int64
	// WithClickID counts the delivered conversions that carried a click id.
	WithClickID int64
}

// SuccessRate is the share of finished deliveries the platform accepted;
// ok is false when none finished.
func (c Cell) SuccessRate() (rate float64, ok bool) {
	return PlatformStats{Delivered: c.Delivered, Failed: c.Failed}.SuccessRate()
}

// ClickIDShare is the share of delivered conversions with a click id; ok
// is false when none was delivered.
func (c Cell) ClickIDShare() (share float64, ok bool) {
	return PlatformStats{Delivered: c.Delivered, WithClickID: c.WithClickID}.ClickIDShare()
}

// Grid counts conversions per shop and platform: finished since since, and
// waiting now.
func (s *Store) Grid(ctx context.Context, since time.Time) ([]Cell, error) {
	from := ms(since)
	var out []Cell
	if err := s.rdb.WithContext(ctx).Raw(`SELECT d.shop_id, d.platform,
			COUNT(CASE WHEN d.status = ? AND d.delivered_at >= ? THEN 1 END) AS delivered,
			COUNT(CASE WHEN d.status = ? AND d.updated_at >= ? THEN 1 END) AS failed,
			COUNT(CASE WHEN d.status IN (?, ?) THEN 1 END) AS waiting,
			COUNT(CASE WHEN d.status IN (?, ?) AND (d.parked OR x.auth_failed_at <> 0) THEN 1 END) AS parked,
			COUNT(CASE WHEN d.status = ? AND d.delivered_at >= ? AND d.match_info LIKE ? THEN 1 END) AS with_click_id,
			COUNT(CASE WHEN d.status = ? AND d.updated_at >= ? THEN 1 END) AS skipped
		FROM deliveries d JOIN destinations x ON x.id = d.destination_id
		WHERE d.kind = ? AND (d.status IN (?, ?) OR d.updated_at >= ?)
		GROUP BY d.shop_id, d.platform ORDER BY d.shop_id, d.platform`,
		DeliveryDelivered, from, DeliveryFailed, from, DeliveryPending, DeliveryRetrying, DeliveryPending, DeliveryRetrying,
		DeliveryDelivered, from, clickIDPattern, DeliverySkipped, from,
		KindConversion, DeliveryPending, DeliveryRetrying, from).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("grid: %w", err)
	}
	return out, nil
}

// DestinationFailures is a destination whose platform refused conversions
// for good in a window (status failed): each needs a look, since none of
// them is sent again by itself.
type DestinationFailures struct {
	DestinationID int64
	ShopID        int64
	Platform      string
	Count         int64
	// Last is the newest refusal, and LastError and LastClass its error.
	Last      time.Time
	LastError string
	LastClass string
}

// RecentFailures lists destinations with conversions that failed since
// since, most failures first.
func (s *Store) RecentFailures(ctx context.Context, since time.Time) ([]DestinationFailures, error) {
	db := s.rdb.WithContext(ctx)
	var rows []struct {
		DestinationID int64
		ShopID        int64
		Platform      string
		N             int64
		Last          int64
	}
	if err := db.Raw(`SELECT destination_id, shop_id, platform, COUNT(*) AS n, MAX(updated_at) AS last FROM deliveries
		WHERE status = ? AND kind = ? AND updated_at >= ? GROUP BY destination_id, shop_id, platform`,
		DeliveryFailed, KindConversion, ms(since)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("recent failures: %w", err)
	}
	out := make([]DestinationFailures, 0, len(rows))
	for _, r := range rows {
		f := DestinationFailures{DestinationID: r.DestinationID, ShopID: r.ShopID, Platform: r.Platform, Count: r.N, Last: fromMS(r.Last)}
		var last []struct {
			LastError  string
			ErrorClass string
		}
		if err := db.Raw(`SELECT last_error, error_class FROM deliveries WHERE destination_id = ? AND status = ? AND kind = ? AND updated_at >= ?
			ORDER BY updated_at DESC, id DESC LIMIT 1`, r.DestinationID, DeliveryFailed, KindConversion, ms(since)).Scan(&last).Error; err != nil {
			return nil, fmt.Errorf("recent failures: %w", err)
		}
		if len(last) > 0 {
			f.LastError, f.LastClass = last[0].LastError, last[0].ErrorClass
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].DestinationID < out[j].DestinationID
	})
	return out, nil
}
