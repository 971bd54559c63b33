package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Stats is what happened in a time window, for the admin dashboard.
// Deliveries count conversions only (not refund adjustments).
type Stats struct {
	Since, Until time.Time
	// Bucket is the width of one bar in the series.
	Bucket time.Duration
	// Webhooks counts the events received in the window, by status
	// (accepted, ignored, duplicate, error).
	Webhooks      map[string]int64
	WebhooksTotal int64
	// Sent counts the conversions delivered in the window.
	Sent int64
	// WebhookSeries and SentSeries count webhooks received and
	// conversions delivered per bucket, oldest first.
	WebhookSeries []int64
	SentSeries    []int64
	// Platforms has one row per platform that delivered, failed or has
	// waiting conversions, sorted by name.
	Platforms []PlatformStats
	// FailingNow counts events with a delivery that failed at least once
	// and is waiting for a retry, or that waits for new credentials, right
	// now, whatever the window.
	FailingNow int64
}

// PlatformStats is one platform's deliveries of conversions.
type PlatformStats struct {
	Platform string
	// Delivered and Failed count deliveries that finished in the window:
	// accepted by the platform, or given up for good.
	Delivered int64
	Failed    int64
	// Waiting counts deliveries pending or retrying now.
	Waiting int64
	// WithClickID counts the delivered ones that carried an ad click id.
	WithClickID int64
}

// SuccessRate is the share of finished deliveries the platform accepted,
// 0 to 1; ok is false when none finished.
func (p PlatformStats) SuccessRate() (rate float64, ok bool) {
	done := p.Delivered + p.Failed
	if done == 0 {
		return 0, false
	}
	return float64(p.Delivered) / float64(done), true
}

// ClickIDShare is the share of delivered conversions that carried a click
// id, 0 to 1; ok is false when none was delivered.
func (p PlatformStats) ClickIDShare() (share float64, ok bool) {
	if p.Delivered == 0 {
		return 0, false
	}
	return float64(p.WithClickID) / float64(p.Delivered), true
}

// clickIDPattern finds a click id in a delivery's match_info, which is
// always written by encoding/json (no spaces), so one LIKE serves SQLite
// and PostgreSQL without either's JSON functions.
const clickIDPattern = `%"click_id":true%`

// Stats counts activity in [since, until), with series in buckets of
// width bucket (at least one minute). Times are unix ms columns, and
// integer division of two BIGINTs is integer division on both databases,
// so the bucket number is computed in SQL.
func (s *Store) Stats(ctx context.Context, since, until time.Time, bucket time.Duration) (Stats, error) {
	if bucket < time.Minute {
		bucket = time.Minute
	}
	if !until.After(since) {
		return Stats{}, fmt.Errorf("stats: window %s to %s is empty", since, until)
	}
	n := int((until.Sub(since) + bucket - 1) / bucket)
	st := Stats{
		Since: since, Until: until, Bucket: bucket, Webhooks: map[string]int64{},
		WebhookSeries: make([]int64, n), SentSeries: make([]int64, n),
	}
	from, to, width := ms(since), ms(until), bucket.Milliseconds()
	db := s.rdb.WithContext(ctx)

	var byStatus []struct {
		Status string
		N      int64
	}
	if err := db.Raw(`SELECT status, COUNT(*) AS n FROM events WHERE received_at >= ? AND received_at < ? GROUP BY status`,
		from, to).Scan(&byStatus).Error; err != nil {
		return Stats{}, fmt.Errorf("stats: webhooks: %w", err)
	}
	for _, r := range byStatus {
		st.Webhooks[r.Status] = r.N
		st.WebhooksTotal += r.N
	}

	type bucketRow struct {
		Bucket int64
		N      int64
	}
	var series []bucketRow
	if err := db.Raw(`SELECT (received_at - ?) / ? AS bucket, COUNT(*) AS n FROM events
		WHERE received_at >= ? AND received_at < ? GROUP BY bucket`, from, width, from, to).Scan(&series).Error; err != nil {
		return Stats{}, fmt.Errorf("stats: webhook series: %w", err)
	}
	fill(st.WebhookSeries, series, func(r bucketRow) (int64, int64) { return r.Bucket, r.N })
	series = nil
	if err := db.Raw(`SELECT (delivered_at - ?) / ? AS bucket, COUNT(*) AS n FROM deliveries
		WHERE kind = ? AND status = ? AND delivered_at >= ? AND delivered_at < ? GROUP BY bucket`,
		from, width, KindConversion, DeliveryDelivered, from, to).Scan(&series).Error; err != nil {
		return Stats{}, fmt.Errorf("stats: sent series: %w", err)
	}
	fill(st.SentSeries, series, func(r bucketRow) (int64, int64) { return r.Bucket, r.N })

	platforms, err := s.platformStats(ctx, from, to)
	if err != nil {
		return Stats{}, err
	}
	st.Platforms = platforms
	for _, p := range platforms {
		st.Sent += p.Delivered
	}

	var failing []int64
	// Failing now: retrying after a failure, or waiting for credentials
	// the platform refused (parked), which is the worse of the two.
	if err := db.Raw(`SELECT COUNT(DISTINCT d.event_id) FROM deliveries d JOIN destinations x ON x.id = d.destination_id
		WHERE d.status IN (?, ?) AND (d.attempts > 0 OR d.parked OR x.auth_failed_at <> 0)`,
		DeliveryPending, DeliveryRetrying).Scan(&failing).Error; err != nil {
		return Stats{}, fmt.Errorf("stats: failing: %w", err)
	}
	if len(failing) > 0 {
		st.FailingNow = failing[0]
	}
	return st, nil
}

// fill adds each row's count to its bucket, ignoring rows outside the
// series (a bucket index past the end cannot occur, but costs nothing to
// guard).
func fill[T any](dst []int64, rows []T, get func(T) (int64, int64)) {
	for _, r := range rows {
		i, n := get(r)
		if i >= 0 && i < int64(len(dst)) {
			dst[i] += n
		}
	}
}

func (s *Store) platformStats(ctx context.Context, from, to int64) ([]PlatformStats, error) {
	db := s.rdb.WithContext(ctx)
	byName := map[string]*PlatformStats{}
	get := func(name string) *PlatformStats {
		p := byName[name]
		if p == nil {
			p = &PlatformStats{Platform: name}
			byName[name] = p
		}
		return p
	}
	var delivered []struct {
		Platform    string
		N           int64
		WithClickID int64
	}
	if err := db.Raw(`SELECT platform, COUNT(*) AS n, COUNT(CASE WHEN match_info LIKE ? THEN 1 END) AS with_click_id
		FROM deliveries WHERE kind = ? AND status = ? AND delivered_at >= ? AND delivered_at < ? GROUP BY platform`,
		clickIDPattern, KindConversion, DeliveryDelivered, from, to).Scan(&delivered).Error; err != nil {
		return nil, fmt.Errorf("stats: delivered per platform: %w", err)
	}
	for _, r := range delivered {
		p := get(r.Platform)
		p.Delivered, p.WithClickID = r.N, r.WithClickID
	}
	type countRow struct {
		Platform string
		N        int64
	}
	var failed, waiting []countRow
	if err := db.Raw(`SELECT platform, COUNT(*) AS n FROM deliveries
		WHERE kind = ? AND status = ? AND updated_at >= ? AND updated_at < ? GROUP BY platform`,
		KindConversion, DeliveryFailed, from, to).Scan(&failed).Error; err != nil {
		return nil, fmt.Errorf("stats: failed per platform: %w", err)
	}
	for _, r := range failed {
		get(r.Platform).Failed = r.N
	}
	if err := db.Raw(`SELECT platform, COUNT(*) AS n FROM deliveries WHERE kind = ? AND status IN (?, ?) GROUP BY platform`,
		KindConversion, DeliveryPending, DeliveryRetrying).Scan(&waiting).Error; err != nil {
		return nil, fmt.Errorf("stats: waiting per platform: %w", err)
	}
	for _, r := range waiting {
		get(r.Platform).Waiting = r.N
	}
	out := make([]PlatformStats, 0, len(byName))
	for _, p := range byName {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Platform < out[j].Platform })
	return out, nil
}
