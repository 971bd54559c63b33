package store

import (
	"context"
	"fmt"
	"time"
)

// PlatformProcessing is a delivery's platform_status while the platform has
// not yet given its verdict.
const PlatformProcessing = "processing"

// PlatformCheck is one platform request whose verdict is due to be read
// back; every delivery sent in that request shares it.
type PlatformCheck struct {
	DestinationID int64
	Platform      string
	RequestID     string
	DeliveryIDs   []int64
	// DeliveredAt is when the request was answered, to give up on a verdict
	// that never comes.
	DeliveredAt time.Time
}

// DuePlatformChecks lists up to limit requests whose verdict is due, oldest
// check first.
func (s *Store) DuePlatformChecks(ctx context.Context, now time.Time, limit int) ([]PlatformCheck, error) {
	var rows []deliveryRow
	err := s.exec(ctx, func(db *gormDB) error {
		return db.Select("id, destination_id, platform, platform_request_id, delivered_at").
			Where("platform_status = ? AND platform_check_at <= ?", PlatformProcessing, ms(now)).
			Order("platform_check_at, id").Limit(limit).Find(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("due platform checks: %w", err)
	}
	type key struct {
		dest int64
		req  string
	}
	at := map[key]int{}
	var out []PlatformCheck
	for _, r := range rows {
		k := key{r.DestinationID, r.PlatformRequestID}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, PlatformCheck{DestinationID: r.DestinationID, Platform: r.Platform, RequestID: r.PlatformRequestID, DeliveredAt: fromMS(r.DeliveredAt)})
		}
		out[i].DeliveryIDs = append(out[i].DeliveryIDs, r.ID)
	}
	return out, nil
}

// RecordPlatformStatus stores what the platform said about a request for
// its deliveries: the state and detail, and when to ask again (zero: never).
func (s *Store) RecordPlatformStatus(ctx context.Context, ids []int64, state, detail string, next, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *gormDB) error {
		return tx.Exec(`UPDATE deliveries SET platform_status = ?, platform_detail = ?, platform_check_at = ?, updated_at = ?
			WHERE id IN ? AND platform_status = ?`, state, detail, ms(next), ms(now), ids, PlatformProcessing).Error
	})
}

// PlatformRequest is one request of a destination whose outcome the
// platform reports after processing it (Google Data Manager), as its
// deliveries record it: the state and detail the platform gave, how many
// deliveries it carried, and when the answer was recorded.
type PlatformRequest struct {
	RequestID  string
	State      string
	Detail     string
	Deliveries int
	CheckedAt  time.Time
}

// PlatformRequests lists the followed-up requests of a destination's
// deliveries created since a time, newest first (at most 1000).
func (s *Store) PlatformRequests(ctx context.Context, destinationID int64, since time.Time) ([]PlatformRequest, error) {
	var rows []struct {
		PlatformRequestID string
		PlatformStatus    string
		PlatformDetail    string
		Deliveries        int
		CheckedAt         int64
	}
	err := s.rdb.WithContext(s.rctx(ctx)).Raw(`SELECT platform_request_id, platform_status, platform_detail,
			COUNT(*) AS deliveries, MAX(updated_at) AS checked_at
		FROM deliveries WHERE destination_id = ? AND platform_request_id <> '' AND created_at >= ?
		GROUP BY platform_request_id, platform_status, platform_detail
		ORDER BY checked_at DESC LIMIT 1000`, destinationID, ms(since)).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("platform requests: %w", err)
	}
	out := make([]PlatformRequest, 0, len(rows))
	for _, r := range rows {
		out = append(out, PlatformRequest{RequestID: r.PlatformRequestID, State: r.PlatformStatus, Detail: r.PlatformDetail,
			Deliveries: r.Deliveries, CheckedAt: fromMS(r.CheckedAt)})
	}
	return out, nil
}
