package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Origins of an event.
const (
	OriginWebhook        = "webhook"
	OriginReconciliation = "reconciliation"
)

// Statuses of a shop's store API connection.
const (
	StoreAPIOK          = "ok"
	StoreAPIAuthFailed  = "auth_failed"
	StoreAPIUnreachable = "unreachable"
	StoreAPIThrottled   = "throttled"
	StoreAPIError       = "error"
)

// StoreAPI is a shop's connection to its store's own API: where the store
// is, its credentials (decrypted), and what happened the last time it was
// used.
type StoreAPI struct {
	ShopID int64
	// URL is the store's base URL (https://<shop>.myshopify.com, the
	// WordPress site, or empty for Stripe).
	URL string
	// Credentials are write-only in the API: admin_api_token, api_secret,
	// consumer_key, consumer_secret.
	Credentials     map[string]string
	Status          string
	StatusError     string
	StatusAt        time.Time
	NextReconcileAt time.Time
	BackoffUntil    time.Time
	Failures        int
	// WebhooksOK and WebhooksProblems are the last check of the store's
	// webhook subscriptions, made at WebhooksCheckedAt (zero: never).
	WebhooksOK        bool
	WebhooksProblems  []string
	WebhooksCheckedAt time.Time
	UpdatedAt         time.Time
}

type storeAPIRow struct {
	ShopID            int64 `gorm:"primaryKey;autoIncrement:false"`
	StoreURL          string
	Credentials       []byte
	Status            string
	StatusError       string
	StatusAt          int64
	NextReconcileAt   int64
	BackoffUntil      int64
	Failures          int
	WebhooksOK        bool
	WebhooksProblems  string
	WebhooksCheckedAt int64
	NextHealthAt      int64
	UpdatedAt         int64 `gorm:"autoUpdateTime:false"`
}

func (storeAPIRow) TableName() string { return "shop_store_api" }

// StoreAPI returns a shop's store API connection; a shop that never set
// one gets an empty StoreAPI and no error.
func (s *Store) StoreAPI(ctx context.Context, shopID int64) (StoreAPI, error) {
	var rows []storeAPIRow
	if err := s.rdb.WithContext(ctx).Where("shop_id = ?", shopID).Limit(1).Find(&rows).Error; err != nil {
		return StoreAPI{}, fmt.Errorf("load store api: %w", err)
	}
	if len(rows) == 0 {
		return StoreAPI{ShopID: shopID, Credentials: map[string]string{}}, nil
	}
	return s.rowToStoreAPI(rows[0])
}

func (s *Store) rowToStoreAPI(r storeAPIRow) (StoreAPI, error) {
	a := StoreAPI{
		ShopID: r.ShopID, URL: r.StoreURL, Status: r.Status, StatusError: r.StatusError,
		StatusAt: fromMS(r.StatusAt), NextReconcileAt: fromMS(r.NextReconcileAt),
		BackoffUntil: fromMS(r.BackoffUntil), Failures: r.Failures, UpdatedAt: fromMS(r.UpdatedAt),
		Credentials: map[string]string{}, WebhooksOK: r.WebhooksOK, WebhooksCheckedAt: fromMS(r.WebhooksCheckedAt),
	}
	if r.WebhooksProblems != "" {
		a.WebhooksProblems = strings.Split(r.WebhooksProblems, "\n")
	}
	plain, err := s.sealer.Open("shop_store_api", "credentials", r.ShopID, r.Credentials)
	if err != nil {
		return StoreAPI{}, fmt.Errorf("shop %d store credentials: %w", r.ShopID, err)
	}
	if plain != "" {
		if err := json.Unmarshal([]byte(plain), &a.Credentials); err != nil {
			return StoreAPI{}, fmt.Errorf("shop %d store credentials: %w", r.ShopID, err)
		}
	}
	return a, nil
}

// SaveStoreAPI stores a shop's store URL and credentials. The connection
// status is reset, since new credentials deserve a fresh try, and the next
// reconciliation is due at once.
func (s *Store) SaveStoreAPI(ctx context.Context, a StoreAPI, now time.Time) error {
	cj, err := json.Marshal(a.Credentials)
	if err != nil {
		return err
	}
	sealed, err := s.sealer.Seal("shop_store_api", "credentials", a.ShopID, string(cj))
	if err != nil {
		return err
	}
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`INSERT INTO shop_store_api (shop_id, store_url, credentials, status, status_error, status_at,
				next_reconcile_at, backoff_until, failures, updated_at)
			VALUES (?, ?, ?, '', '', 0, 0, 0, 0, ?)
			ON CONFLICT (shop_id) DO UPDATE SET store_url = excluded.store_url, credentials = excluded.credentials,
				status = '', status_error = '', status_at = 0, next_reconcile_at = 0, backoff_until = 0, failures = 0,
				updated_at = excluded.updated_at`,
			a.ShopID, a.URL, sealed, ms(now)).Error
	})
}

// SetStoreAPIStatus records the outcome of a call to the store's API. A
// failure bumps the failure count and holds further calls until
// backoffUntil; success clears both.
func (s *Store) SetStoreAPIStatus(ctx context.Context, shopID int64, status, msg string, backoffUntil, now time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		failures := "failures + 1"
		if status == StoreAPIOK {
			failures = "0"
		}
		return db.Exec(`UPDATE shop_store_api SET status = ?, status_error = ?, status_at = ?, backoff_until = ?,
			failures = `+failures+` WHERE shop_id = ?`, status, msg, ms(now), ms(backoffUntil), shopID).Error
	})
}

// ConnectedShops lists the shops with a store API connection, by id.
func (s *Store) ConnectedShops(ctx context.Context) ([]StoreAPI, error) {
	var rows []storeAPIRow
	if err := s.rdb.WithContext(ctx).Order("shop_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list store apis: %w", err)
	}
	out := make([]StoreAPI, 0, len(rows))
	for _, r := range rows {
		a, err := s.rowToStoreAPI(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ClaimReconcile takes the shop's reconciliation due at or before now and
// moves its due time to next. It is a compare-and-set on one row, so when
// several replicas share a PostgreSQL database exactly one of them gets
// true for each interval. A shop backing off from its store's errors is
// not claimed.
func (s *Store) ClaimReconcile(ctx context.Context, shopID int64, now, next time.Time) (bool, error) {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`UPDATE shop_store_api SET next_reconcile_at = ?
			WHERE shop_id = ? AND next_reconcile_at <= ? AND backoff_until <= ?`, ms(next), shopID, ms(now), ms(now))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("claim reconciliation: %w", err)
	}
	return n == 1, nil
}

// ReconcileRun is one comparison of a store's orders with what Postback
// received.
type ReconcileRun struct {
	ID          int64
	ShopID      int64
	Trigger     string
	StartedAt   time.Time
	FinishedAt  time.Time
	WindowStart time.Time
	WindowEnd   time.Time
	// Checked is how many orders the store listed in the window, Missing
	// how many of them Postback had not converted, Backfilled how many of
	// those it committed now to be sent, TooOld how many it committed as
	// events whose deliveries were all skipped too_old (past every
	// destination's acceptance window).
	Checked    int
	Missing    int
	Backfilled int
	TooOld     int
	Error      string
}

type reconcileRunRow struct {
	ID          int64 `gorm:"primaryKey"`
	ShopID      int64
	TriggerKind string
	StartedAt   int64
	FinishedAt  int64
	WindowStart int64
	WindowEnd   int64
	Checked     int
	Missing     int
	Backfilled  int
	TooOld      int
	Error       string
}

func (reconcileRunRow) TableName() string { return "reconcile_runs" }

// SaveReconcileRun records a finished run and keeps the shop's last 50.
func (s *Store) SaveReconcileRun(ctx context.Context, r ReconcileRun) (ReconcileRun, error) {
	row := reconcileRunRow{
		ShopID: r.ShopID, TriggerKind: r.Trigger, StartedAt: ms(r.StartedAt), FinishedAt: ms(r.FinishedAt),
		WindowStart: ms(r.WindowStart), WindowEnd: ms(r.WindowEnd), Checked: r.Checked, Missing: r.Missing,
		Backfilled: r.Backfilled, TooOld: r.TooOld, Error: r.Error,
	}
	err := s.exec(ctx, func(db *gormDB) error {
		if err := db.Create(&row).Error; err != nil {
			return err
		}
		return db.Exec(`DELETE FROM reconcile_runs WHERE shop_id = ? AND id <= ?`, r.ShopID, row.ID-50).Error
	})
	if err != nil {
		return ReconcileRun{}, fmt.Errorf("save reconciliation run: %w", err)
	}
	r.ID = row.ID
	return r, nil
}

// LastReconcileRun returns the shop's latest run, or ErrNotFound.
func (s *Store) LastReconcileRun(ctx context.Context, shopID int64) (ReconcileRun, error) {
	var rows []reconcileRunRow
	if err := s.rdb.WithContext(ctx).Where("shop_id = ?", shopID).Order("id DESC").Limit(1).Find(&rows).Error; err != nil {
		return ReconcileRun{}, fmt.Errorf("load reconciliation run: %w", err)
	}
	if len(rows) == 0 {
		return ReconcileRun{}, ErrNotFound
	}
	r := rows[0]
	return ReconcileRun{
		ID: r.ID, ShopID: r.ShopID, Trigger: r.TriggerKind, StartedAt: fromMS(r.StartedAt), FinishedAt: fromMS(r.FinishedAt),
		WindowStart: fromMS(r.WindowStart), WindowEnd: fromMS(r.WindowEnd), Checked: r.Checked, Missing: r.Missing,
		Backfilled: r.Backfilled, TooOld: r.TooOld, Error: r.Error,
	}, nil
}

// ConvertedOrders reports which of keys (order ids and aliases, as the
// webhooks give them) the shop already converted.
func (s *Store) ConvertedOrders(ctx context.Context, shopID int64, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	keys = uniqueNonEmpty(keys)
	for start := 0; start < len(keys); start += 500 {
		end := min(start+500, len(keys))
		var found []string
		err := s.rdb.WithContext(ctx).Table("order_conversions").Select("order_id").
			Where("shop_id = ? AND order_id IN ?", shopID, keys[start:end]).Scan(&found).Error
		if err != nil {
			return nil, fmt.Errorf("look up converted orders: %w", err)
		}
		for _, k := range found {
			out[k] = true
		}
	}
	return out, nil
}

// applyOrigins writes, in the commit's transaction, the origin of the
// batch's events that did not come by webhook, so that no crash can leave a
// backfilled event labelled as a webhook. For orders recovered by
// reconciliation it also records the deliveries already past their
// platform's acceptance window as skipped, reason too_old (the vocabulary
// of the delivery worker, which skips them the same way): such an order is
// accounted for and never sent, and the expiry sweep never calls it failed.
func applyOrigins(tx *gormDB, ps []pending) error {
	byOrigin := map[string][]int64{}
	var recovered []int64
	var now int64
	for i := range ps {
		p := &ps[i]
		if p.in.Origin == "" || p.in.Origin == OriginWebhook || p.replay || p.row.ID <= 0 {
			continue
		}
		byOrigin[p.in.Origin] = append(byOrigin[p.in.Origin], p.row.ID)
		if p.in.Origin == OriginReconciliation && len(p.dests) > 0 {
			recovered = append(recovered, p.row.ID)
			now = max(now, p.row.ReceivedAt)
		}
	}
	for origin, ids := range byOrigin {
		for start := 0; start < len(ids); start += 500 {
			part := ids[start:min(start+500, len(ids))]
			if err := tx.Exec(`UPDATE events SET origin = ? WHERE id IN ?`, origin, part).Error; err != nil {
				return fmt.Errorf("label event origin: %w", err)
			}
		}
	}
	for start := 0; start < len(recovered); start += 500 {
		part := recovered[start:min(start+500, len(recovered))]
		err := tx.Exec(`UPDATE deliveries SET status = ?, error_class = 'too_old',
			last_error = 'event is past ' || platform || '''s acceptance window; not sent', updated_at = ?
			WHERE event_id IN ? AND kind = ? AND status = ? AND expires_at < ?`,
			DeliverySkipped, now, part, KindConversion, DeliveryPending, now).Error
		if err != nil {
			return fmt.Errorf("skip deliveries past their window: %w", err)
		}
	}
	return nil
}

// SaveWebhookHealth records a check of the shop's webhook subscriptions.
func (s *Store) SaveWebhookHealth(ctx context.Context, shopID int64, ok bool, problems []string, now time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`UPDATE shop_store_api SET webhooks_ok = ?, webhooks_problems = ?, webhooks_checked_at = ? WHERE shop_id = ?`,
			ok, strings.Join(problems, "\n"), ms(now), shopID).Error
	})
}

// ClaimHealthCheck takes the shop's webhook check due at or before now and
// moves its due time to next; like ClaimReconcile, one replica wins.
func (s *Store) ClaimHealthCheck(ctx context.Context, shopID int64, now, next time.Time) (bool, error) {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`UPDATE shop_store_api SET next_health_at = ? WHERE shop_id = ? AND next_health_at <= ?`, ms(next), shopID, ms(now))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("claim webhook check: %w", err)
	}
	return n == 1, nil
}
