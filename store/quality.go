package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/postbackhq/postback/mapping"
)

type qualityRow struct {
	DestinationID int64 `gorm:"primaryKey;autoIncrement:false"`
	Score         *float64
	CheckedAt     int64
	Details       string
	Error         string
}

func (qualityRow) TableName() string { return "platform_quality" }

// SaveQuality records a platform's verdict on a destination's matching.
func (s *Store) SaveQuality(ctx context.Context, destinationID int64, q mapping.PlatformQuality) error {
	dj, err := json.Marshal(q.Details)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *gormDB) error {
		if err := tx.Exec(`DELETE FROM platform_quality WHERE destination_id = ?`, destinationID).Error; err != nil {
			return fmt.Errorf("save quality: %w", err)
		}
		row := qualityRow{DestinationID: destinationID, Score: q.Score, CheckedAt: ms(q.CheckedAt), Details: string(dj)}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("save quality: %w", err)
		}
		return nil
	})
}

// Quality returns the platform's last verdict on a destination, nil when
// the platform has not answered yet.
func (s *Store) Quality(ctx context.Context, destinationID int64) (*mapping.PlatformQuality, error) {
	var rows []qualityRow
	if err := s.rdb.WithContext(ctx).Where("destination_id = ?", destinationID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load quality: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	q := &mapping.PlatformQuality{Score: rows[0].Score, CheckedAt: fromMS(rows[0].CheckedAt), Details: map[string]any{}}
	if rows[0].Details != "" {
		if err := json.Unmarshal([]byte(rows[0].Details), &q.Details); err != nil {
			return nil, fmt.Errorf("quality details: %w", err)
		}
	}
	return q, nil
}

// MatchShares are the shares (0–1) of a destination's conversions sent
// with each kind of identifier, over a period, and their mean quality.
type MatchShares struct {
	Conversions int     `json:"conversions"`
	ClickID     float64 `json:"click_id"`
	FBP         float64 `json:"fbp"`
	Email       float64 `json:"email"`
	Phone       float64 `json:"phone"`
	Quality     float64 `json:"quality"`
}

// maxShareRows bounds how many deliveries a share reads.
const maxShareRows = 5000

// DestinationShares measures what a destination's conversions (sent or
// waiting, the newest maxShareRows) carried since a time, from the match
// recorded per delivery (or, before sending, per event).
func (s *Store) DestinationShares(ctx context.Context, destinationID int64, since time.Time) (MatchShares, error) {
	var rows []struct {
		DMatch string
		EMatch string
	}
	err := s.rdb.WithContext(ctx).Raw(`SELECT d.match_info AS d_match, e.match_info AS e_match FROM deliveries d
		JOIN events e ON e.id = d.event_id
		WHERE d.destination_id = ? AND d.kind = ? AND d.created_at >= ? ORDER BY d.id DESC LIMIT ?`,
		destinationID, KindConversion, ms(since), maxShareRows).Scan(&rows).Error
	if err != nil {
		return MatchShares{}, fmt.Errorf("match shares: %w", err)
	}
	var out MatchShares
	for _, r := range rows {
		raw := r.DMatch
		if raw == "" {
			raw = r.EMatch
		}
		var m mapping.Match
		if raw == "" || json.Unmarshal([]byte(raw), &m) != nil {
			continue
		}
		out.Conversions++
		out.ClickID += b2f(m.ClickID || m.FBC)
		out.FBP += b2f(m.FBP)
		out.Email += b2f(m.Email)
		out.Phone += b2f(m.Phone)
		out.Quality += float64(m.Quality)
	}
	if n := float64(out.Conversions); n > 0 {
		out.ClickID, out.FBP, out.Email, out.Phone, out.Quality = out.ClickID/n, out.FBP/n, out.Email/n, out.Phone/n, out.Quality/n
	}
	return out, nil
}

// PixelEventIDMismatch counts a shop's beacons joined since a time, and
// how many carried a pixel event id different from the one the server
// sends: then pixel and server events are counted twice.
func (s *Store) PixelEventIDMismatch(ctx context.Context, shopID int64, since time.Time) (joined, mismatched int, err error) {
	var rows []struct {
		Data              string
		ConversionEventID string
	}
	err = s.rdb.WithContext(ctx).Raw(`SELECT b.data, e.conversion_event_id FROM beacons b JOIN events e ON e.id = b.event_id
		WHERE b.shop_id = ? AND b.outcome = ? AND b.received_at >= ? LIMIT ?`, shopID, BeaconJoined, ms(since), maxShareRows).Scan(&rows).Error
	if err != nil {
		return 0, 0, fmt.Errorf("pixel event ids: %w", err)
	}
	for _, r := range rows {
		var b mapping.Beacon
		if json.Unmarshal([]byte(r.Data), &b) != nil || b.EventID == "" {
			continue
		}
		joined++
		if b.EventID != r.ConversionEventID {
			mismatched++
		}
	}
	return joined, mismatched, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// DestinationVerdict is a platform's last verdict on one destination, for
// lists.
type DestinationVerdict struct {
	DestinationID int64
	ShopID        int64
	ShopName      string
	Platform      string
	Quality       mapping.PlatformQuality
}

// Verdicts lists every destination's last platform verdict, by shop.
func (s *Store) Verdicts(ctx context.Context) ([]DestinationVerdict, error) {
	var rows []struct {
		DestinationID int64
		ShopID        int64
		ShopName      string
		Platform      string
		Score         *float64
		CheckedAt     int64
		Details       string
	}
	err := s.rdb.WithContext(ctx).Raw(`SELECT q.destination_id, d.shop_id, s.name AS shop_name, d.platform, q.score, q.checked_at, q.details
		FROM platform_quality q JOIN destinations d ON d.id = q.destination_id JOIN shops s ON s.id = d.shop_id
		ORDER BY d.shop_id, d.id`).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list verdicts: %w", err)
	}
	out := make([]DestinationVerdict, 0, len(rows))
	for _, r := range rows {
		v := DestinationVerdict{DestinationID: r.DestinationID, ShopID: r.ShopID, ShopName: r.ShopName, Platform: r.Platform,
			Quality: mapping.PlatformQuality{Score: r.Score, CheckedAt: fromMS(r.CheckedAt), Details: map[string]any{}}}
		if r.Details != "" {
			if err := json.Unmarshal([]byte(r.Details), &v.Quality.Details); err != nil {
				return nil, fmt.Errorf("verdict details: %w", err)
			}
		}
		out = append(out, v)
	}
	return out, nil
}
