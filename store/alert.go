package store

import (
	"context"
	"fmt"
	"time"
)

// AlertChannel is where alerts go: a generic JSON webhook, a
// Slack-compatible incoming webhook, or an e-mail address. ShopID 0 is
// global (every shop's alerts).
type AlertChannel struct {
	ID     int64
	ShopID int64
	Kind   string
	// Target is the URL or address, decrypted; a webhook URL is a secret.
	Target     string
	Label      string
	Enabled    bool
	LastError  string
	LastSentAt time.Time
	CreatedAt  time.Time
}

type alertChannelRow struct {
	ID         int64 `gorm:"primaryKey"`
	ShopID     int64
	Kind       string
	Target     []byte
	Label      string
	Enabled    bool
	LastError  string
	LastSentAt int64
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
}

func (alertChannelRow) TableName() string { return "alert_channels" }

// CreateAlertChannel stores a channel with its target sealed.
func (s *Store) CreateAlertChannel(ctx context.Context, ch AlertChannel, now time.Time) (AlertChannel, error) {
	// The sealed target is bound to its row id, known once the row is in:
	// insert, then seal, in one transaction.
	r := alertChannelRow{ShopID: ch.ShopID, Kind: ch.Kind, Target: []byte{}, Label: ch.Label, Enabled: ch.Enabled, CreatedAt: ms(now)}
	err := s.write(ctx, func(tx *gormDB) error {
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		sealed, err := s.sealer.Seal("alert_channels", "target", r.ID, ch.Target)
		if err != nil {
			return err
		}
		return tx.Exec(`UPDATE alert_channels SET target = ? WHERE id = ?`, sealed, r.ID).Error
	})
	if err != nil {
		return AlertChannel{}, fmt.Errorf("create alert channel: %w", err)
	}
	ch.ID, ch.CreatedAt = r.ID, now
	return ch, nil
}

func (s *Store) rowToAlertChannel(r alertChannelRow) (AlertChannel, error) {
	t, err := s.sealer.Open("alert_channels", "target", r.ID, r.Target)
	if err != nil {
		return AlertChannel{}, fmt.Errorf("alert channel %d: %w", r.ID, err)
	}
	return AlertChannel{ID: r.ID, ShopID: r.ShopID, Kind: r.Kind, Target: t, Label: r.Label, Enabled: r.Enabled,
		LastError: r.LastError, LastSentAt: fromMS(r.LastSentAt), CreatedAt: fromMS(r.CreatedAt)}, nil
}

// AlertChannels lists every channel by id.
func (s *Store) AlertChannels(ctx context.Context) ([]AlertChannel, error) {
	var rows []alertChannelRow
	if err := s.rdb.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list alert channels: %w", err)
	}
	out := make([]AlertChannel, 0, len(rows))
	for _, r := range rows {
		ch, err := s.rowToAlertChannel(r)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// AlertChannel returns one channel.
func (s *Store) AlertChannel(ctx context.Context, id int64) (AlertChannel, error) {
	var r alertChannelRow
	if err := s.rdb.WithContext(ctx).First(&r, id).Error; err != nil {
		return AlertChannel{}, notFound(err)
	}
	return s.rowToAlertChannel(r)
}

// DeleteAlertChannel removes a channel and its pending notifications.
func (s *Store) DeleteAlertChannel(ctx context.Context, id int64) error {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Delete(&alertChannelRow{}, id)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("delete alert channel: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RecordChannelResult notes a channel's last send.
func (s *Store) RecordChannelResult(ctx context.Context, id int64, errMsg string, now time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		if errMsg == "" {
			return db.Exec(`UPDATE alert_channels SET last_error = '', last_sent_at = ? WHERE id = ?`, ms(now), id).Error
		}
		return db.Exec(`UPDATE alert_channels SET last_error = ? WHERE id = ?`, errMsg, id).Error
	})
}

// Incident is one thing wrong with a shop, from when it was noticed until
// it resolved. Key identifies it (kind plus subject, e.g.
// destination_failing:7); one incident per shop and key is open at a time.
type Incident struct {
	ID         int64
	ShopID     int64
	Key        string
	Kind       string
	Summary    string
	Action     string
	Affected   int
	OpenedAt   time.Time
	ResolvedAt time.Time
}

type incidentRow struct {
	ID          int64 `gorm:"primaryKey"`
	ShopID      int64
	IncidentKey string
	Kind        string
	Summary     string
	Action      string
	Affected    int
	OpenedAt    int64
	ResolvedAt  int64
}

func (incidentRow) TableName() string { return "alert_incidents" }

func rowToIncident(r incidentRow) Incident {
	return Incident{ID: r.ID, ShopID: r.ShopID, Key: r.IncidentKey, Kind: r.Kind, Summary: r.Summary, Action: r.Action,
		Affected: r.Affected, OpenedAt: fromMS(r.OpenedAt), ResolvedAt: fromMS(r.ResolvedAt)}
}

// OpenIncident opens inc unless the same shop and key is open already, in
// which case only its affected count is updated. A new incident queues one
// "opened" notification per enabled channel of the shop and per global
// channel. It reports whether the incident is new.
func (s *Store) OpenIncident(ctx context.Context, inc Incident, now time.Time) (bool, error) {
	created := false
	err := s.write(ctx, func(tx *gormDB) error {
		res := tx.Exec(`INSERT INTO alert_incidents (shop_id, incident_key, kind, summary, action, affected, opened_at, resolved_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING`,
			inc.ShopID, inc.Key, inc.Kind, inc.Summary, inc.Action, inc.Affected, ms(now))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return tx.Exec(`UPDATE alert_incidents SET affected = ? WHERE shop_id = ? AND incident_key = ? AND resolved_at = 0`,
				inc.Affected, inc.ShopID, inc.Key).Error
		}
		created = true
		var id int64
		if err := tx.Table("alert_incidents").Select("id").
			Where("shop_id = ? AND incident_key = ? AND resolved_at = 0", inc.ShopID, inc.Key).Scan(&id).Error; err != nil {
			return err
		}
		return tx.Exec(`INSERT INTO alert_notifications (incident_id, channel_id, phase, status, next_attempt_at)
			SELECT ?, id, 'opened', 'pending', ? FROM alert_channels WHERE enabled = ? AND (shop_id = 0 OR shop_id = ?)
			ON CONFLICT DO NOTHING`, id, ms(now), true, inc.ShopID).Error
	})
	if err != nil {
		return false, fmt.Errorf("open incident: %w", err)
	}
	return created, nil
}

// OpenIncidents lists the incidents not resolved.
func (s *Store) OpenIncidents(ctx context.Context) ([]Incident, error) {
	var rows []incidentRow
	if err := s.rdb.WithContext(ctx).Where("resolved_at = 0").Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	out := make([]Incident, 0, len(rows))
	for _, r := range rows {
		out = append(out, rowToIncident(r))
	}
	return out, nil
}

// ResolveIncident closes an open incident and queues one "resolved"
// notification to each channel that was to be told it opened.
func (s *Store) ResolveIncident(ctx context.Context, id int64, now time.Time) error {
	return s.write(ctx, func(tx *gormDB) error {
		res := tx.Exec(`UPDATE alert_incidents SET resolved_at = ? WHERE id = ? AND resolved_at = 0`, ms(now), id)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tx.Exec(`INSERT INTO alert_notifications (incident_id, channel_id, phase, status, next_attempt_at)
			SELECT incident_id, channel_id, 'resolved', 'pending', ? FROM alert_notifications WHERE incident_id = ? AND phase = 'opened'
			ON CONFLICT DO NOTHING`, ms(now), id).Error
	})
}

// Notification is one message to send: an incident's opening or
// resolution to one channel.
type Notification struct {
	ID       int64
	Phase    string
	Attempts int
	Incident Incident
	Channel  AlertChannel
}

// ClaimNotifications takes up to limit due notifications, leasing each
// until leaseUntil so another replica does not send it too.
func (s *Store) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Notification, error) {
	type row struct {
		ID          int64
		IncidentID  int64
		ChannelID   int64
		Phase       string
		Attempts    int
		NextAttempt int64 `gorm:"column:next_attempt_at"`
	}
	var rows []row
	if err := s.rdb.WithContext(ctx).Table("alert_notifications").Select("id, incident_id, channel_id, phase, attempts, next_attempt_at").
		Where("status = 'pending' AND next_attempt_at <= ?", ms(now)).Order("id").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("due notifications: %w", err)
	}
	var out []Notification
	for _, r := range rows {
		var n int64
		err := s.exec(ctx, func(db *gormDB) error {
			res := db.Exec(`UPDATE alert_notifications SET next_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?`,
				ms(leaseUntil), r.ID, r.NextAttempt)
			n = res.RowsAffected
			return res.Error
		})
		if err != nil {
			return out, err
		}
		if n == 0 {
			continue
		}
		var ir incidentRow
		if err := s.rdb.WithContext(ctx).First(&ir, r.IncidentID).Error; err != nil {
			return out, notFound(err)
		}
		ch, err := s.AlertChannel(ctx, r.ChannelID)
		if err != nil {
			return out, err
		}
		out = append(out, Notification{ID: r.ID, Phase: r.Phase, Attempts: r.Attempts, Incident: rowToIncident(ir), Channel: ch})
	}
	return out, nil
}

// FinishNotification records a send: sent, or failed with the next try at
// retryAt (zero: give up).
func (s *Store) FinishNotification(ctx context.Context, id int64, errMsg string, retryAt, now time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		switch {
		case errMsg == "":
			return db.Exec(`UPDATE alert_notifications SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '' WHERE id = ?`, ms(now), id).Error
		case retryAt.IsZero():
			return db.Exec(`UPDATE alert_notifications SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?`, errMsg, id).Error
		default:
			return db.Exec(`UPDATE alert_notifications SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?`, errMsg, ms(retryAt), id).Error
		}
	})
}

// DestinationBacklog is how long a destination has had deliveries waiting
// for a retry.
type DestinationBacklog struct {
	DestinationID int64
	Platform      string
	Count         int
	Since         time.Time
}

// RetryingDeliveries lists, per destination of the shop, the deliveries in
// status retrying and the oldest one's creation time.
func (s *Store) RetryingDeliveries(ctx context.Context, shopID int64) ([]DestinationBacklog, error) {
	type row struct {
		DestinationID int64
		Platform      string
		N             int
		Oldest        int64
	}
	var rows []row
	err := s.rdb.WithContext(ctx).Table("deliveries").
		Select("destination_id, platform, COUNT(*) AS n, MIN(created_at) AS oldest").
		Where("shop_id = ? AND status = ?", shopID, DeliveryRetrying).Group("destination_id, platform").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("retrying deliveries: %w", err)
	}
	out := make([]DestinationBacklog, 0, len(rows))
	for _, r := range rows {
		out = append(out, DestinationBacklog{DestinationID: r.DestinationID, Platform: r.Platform, Count: r.N, Since: fromMS(r.Oldest)})
	}
	return out, nil
}

// WebhookCount counts the shop's events that came by webhook and were
// received in [from, to).
func (s *Store) WebhookCount(ctx context.Context, shopID int64, from, to time.Time) (int64, error) {
	var n int64
	err := s.rdb.WithContext(ctx).Table("events").
		Where("shop_id = ? AND origin = ? AND received_at >= ? AND received_at < ?", shopID, OriginWebhook, ms(from), ms(to)).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count webhooks: %w", err)
	}
	return n, nil
}

// AlertThresholds say when alerts fire, for one shop or, with ShopID 0,
// for every shop. A nil field is not set: a shop's falls back on the
// global value, the global one on the alert package's default.
type AlertThresholds struct {
	ShopID int64
	// FailingMinutes: a destination with conversions waiting for a retry
	// this long is an incident.
	FailingMinutes *int
	// SharePercent: a platform's accounted-for share under this, once the
	// shop had ShareMinOrders paid orders, is an incident.
	SharePercent   *int
	ShareMinOrders *int
	// SilentHours: a shop that got UsualWebhooks or more in the six days
	// before and none for this long is an incident.
	SilentHours   *int
	UsualWebhooks *int
	UpdatedAt     time.Time
}

type alertThresholdsRow struct {
	ShopID         int64 `gorm:"primaryKey;autoIncrement:false"`
	FailingMinutes *int
	SharePercent   *int
	ShareMinOrders *int
	SilentHours    *int
	UsualWebhooks  *int
	UpdatedAt      int64 `gorm:"autoUpdateTime:false"`
}

func (alertThresholdsRow) TableName() string { return "alert_thresholds" }

// AlertThresholds returns every stored set of thresholds by shop id (0:
// global). Shops without a row are absent.
func (s *Store) AlertThresholds(ctx context.Context) (map[int64]AlertThresholds, error) {
	var rows []alertThresholdsRow
	if err := s.rdb.WithContext(ctx).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load alert thresholds: %w", err)
	}
	out := make(map[int64]AlertThresholds, len(rows))
	for _, r := range rows {
		out[r.ShopID] = AlertThresholds{ShopID: r.ShopID, FailingMinutes: r.FailingMinutes, SharePercent: r.SharePercent,
			ShareMinOrders: r.ShareMinOrders, SilentHours: r.SilentHours, UsualWebhooks: r.UsualWebhooks, UpdatedAt: fromMS(r.UpdatedAt)}
	}
	return out, nil
}

// SaveAlertThresholds replaces the thresholds of t.ShopID (0: global).
// The caller validates them.
func (s *Store) SaveAlertThresholds(ctx context.Context, t AlertThresholds, now time.Time) error {
	err := s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`INSERT INTO alert_thresholds (shop_id, failing_minutes, share_percent, share_min_orders, silent_hours, usual_webhooks, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (shop_id) DO UPDATE SET failing_minutes = excluded.failing_minutes, share_percent = excluded.share_percent,
			share_min_orders = excluded.share_min_orders, silent_hours = excluded.silent_hours,
			usual_webhooks = excluded.usual_webhooks, updated_at = excluded.updated_at`,
			t.ShopID, t.FailingMinutes, t.SharePercent, t.ShareMinOrders, t.SilentHours, t.UsualWebhooks, ms(now)).Error
	})
	if err != nil {
		return fmt.Errorf("save alert thresholds: %w", err)
	}
	return nil
}
