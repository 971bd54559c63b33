package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Destination is one ad-platform account a shop sends conversions to.
type Destination struct {
	ID          int64
	ShopID      int64
	Platform    string
	Credentials map[string]string // decrypted
	Settings    map[string]string
	Enabled     bool
	// AuthFailedAt is set when the platform refused the credentials; the
	// destination's deliveries wait (parked) until they are replaced.
	AuthFailedAt   time.Time
	AuthError      string
	ThrottledUntil time.Time
	// PausedUntil is when a destination whose batches failed whole (its
	// circuit breaker is open) or whose credentials were refused may be
	// probed again; Failures counts those failures in a row.
	PausedUntil time.Time
	Failures    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// SealError says why the stored credentials cannot be decrypted; they
	// are empty then. Destinations still lists the destination; Destination
	// refuses it, so nothing is sent with empty credentials.
	SealError string
}

type destinationRow struct {
	ID             int64 `gorm:"primaryKey"`
	ShopID         int64
	Platform       string
	Credentials    []byte
	Settings       string
	Enabled        bool
	AuthFailedAt   int64
	AuthError      string
	ThrottledUntil int64
	PausedUntil    int64
	Failures       int
	CreatedAt      int64 `gorm:"autoCreateTime:false"`
	UpdatedAt      int64 `gorm:"autoUpdateTime:false"`
}

func (destinationRow) TableName() string { return "destinations" }

func (s *Store) destinationToRow(d Destination) (destinationRow, error) {
	cj, err := json.Marshal(nonNil(d.Credentials))
	if err != nil {
		return destinationRow{}, err
	}
	var sealed []byte
	if d.ID != 0 {
		if sealed, err = s.sealer.Seal("destinations", "credentials", d.ID, string(cj)); err != nil {
			return destinationRow{}, err
		}
	}
	sj, err := json.Marshal(nonNil(d.Settings))
	if err != nil {
		return destinationRow{}, err
	}
	return destinationRow{
		ID: d.ID, ShopID: d.ShopID, Platform: d.Platform, Credentials: sealed, Settings: string(sj),
		Enabled: d.Enabled, AuthFailedAt: ms(d.AuthFailedAt), AuthError: d.AuthError,
		ThrottledUntil: ms(d.ThrottledUntil), PausedUntil: ms(d.PausedUntil), Failures: d.Failures, CreatedAt: ms(d.CreatedAt), UpdatedAt: ms(d.UpdatedAt),
	}, nil
}

func (s *Store) rowToDestination(r destinationRow) (Destination, error) {
	d := Destination{
		ID: r.ID, ShopID: r.ShopID, Platform: r.Platform, Enabled: r.Enabled,
		AuthFailedAt: fromMS(r.AuthFailedAt), AuthError: r.AuthError, ThrottledUntil: fromMS(r.ThrottledUntil),
		PausedUntil: fromMS(r.PausedUntil), Failures: r.Failures, CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt),
		Credentials: map[string]string{}, Settings: map[string]string{},
	}
	plain, err := s.sealer.Open("destinations", "credentials", r.ID, r.Credentials)
	if err != nil {
		d.SealError = "credentials: " + err.Error()
		plain = ""
	}
	if plain != "" {
		if err := json.Unmarshal([]byte(plain), &d.Credentials); err != nil {
			return Destination{}, fmt.Errorf("destination %d credentials: %w", r.ID, err)
		}
	}
	if r.Settings != "" {
		if err := json.Unmarshal([]byte(r.Settings), &d.Settings); err != nil {
			return Destination{}, fmt.Errorf("destination %d settings: %w", r.ID, err)
		}
	}
	return d, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// CreateDestination stores a new destination for a shop.
func (s *Store) CreateDestination(ctx context.Context, d Destination, now time.Time) (Destination, error) {
	d.CreatedAt, d.UpdatedAt = now, now
	d.ID = 0
	r, err := s.destinationToRow(d)
	if err != nil {
		return Destination{}, err
	}
	// The credentials are sealed with the row id as associated data: the
	// row goes in first (credentials is NOT NULL: an empty placeholder)
	// and gets them in the same transaction.
	r.Credentials = []byte{}
	err = s.write(ctx, func(tx *gormDB) error {
		s.forgetDestinations()
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		d.ID = r.ID
		sealed, err := s.destinationToRow(d)
		if err != nil {
			return err
		}
		return tx.Exec(`UPDATE destinations SET credentials = ? WHERE id = ?`, sealed.Credentials, d.ID).Error
	})
	if err != nil {
		return Destination{}, fmt.Errorf("create destination: %w", err)
	}
	return d, nil
}

// Destination returns one destination with its credentials decrypted.
func (s *Store) Destination(ctx context.Context, id int64) (Destination, error) {
	var r destinationRow
	if err := s.rdb.WithContext(ctx).First(&r, id).Error; err != nil {
		return Destination{}, notFound(err)
	}
	d, err := s.rowToDestination(r)
	if err != nil {
		return Destination{}, err
	}
	if d.SealError != "" {
		return Destination{}, fmt.Errorf("destination %d %s: %w", d.ID, d.SealError, ErrUnsealable)
	}
	return d, nil
}

// DestinationForEdit returns one destination for the admin to see and
// edit: one whose credentials cannot be decrypted comes back with empty
// credentials and SealError set instead of an error, so that it can be
// shown and given new credentials. Sending uses Destination.
func (s *Store) DestinationForEdit(ctx context.Context, id int64) (Destination, error) {
	var r destinationRow
	if err := s.rdb.WithContext(ctx).First(&r, id).Error; err != nil {
		return Destination{}, notFound(err)
	}
	return s.rowToDestination(r)
}

// Destinations lists a shop's destinations by id.
func (s *Store) Destinations(ctx context.Context, shopID int64) ([]Destination, error) {
	var rows []destinationRow
	if err := s.rdb.WithContext(ctx).Where("shop_id = ?", shopID).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Destination, 0, len(rows))
	for _, r := range rows {
		d, err := s.rowToDestination(r)
		if err != nil {
			// Bad settings break this destination only.
			d = Destination{ID: r.ID, ShopID: r.ShopID, Platform: r.Platform, Enabled: r.Enabled,
				Credentials: map[string]string{}, Settings: map[string]string{}, SealError: err.Error(),
				CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
		}
		out = append(out, d)
	}
	return out, nil
}

// UpdateDestination saves d. Saving is the merchant's "try again": a
// destination parked for rejected credentials (whether or not they
// changed) or paused after failed batches is released, and its waiting
// deliveries are due at once.
func (s *Store) UpdateDestination(ctx context.Context, d Destination, credentialsChanged bool, now time.Time) (Destination, error) {
	d.UpdatedAt = now
	d.AuthFailedAt, d.AuthError, d.PausedUntil, d.Failures = time.Time{}, "", time.Time{}, 0
	r, err := s.destinationToRow(d)
	if err != nil {
		return Destination{}, err
	}
	omit := []string{"id", "shop_id", "platform", "created_at"}
	if d.SealError != "" && !credentialsChanged {
		// Keep what could not be decrypted: it may open under the right key.
		omit = append(omit, "credentials")
	}
	if credentialsChanged {
		d.SealError = ""
	}
	err = s.write(ctx, func(tx *gormDB) error {
		s.forgetDestinations()
		var before []destinationRow
		if err := tx.Select("id, auth_failed_at, failures").Where("id = ?", d.ID).Find(&before).Error; err != nil {
			return fmt.Errorf("update destination: %w", err)
		}
		if len(before) == 0 {
			return ErrNotFound
		}
		if err := tx.Model(&destinationRow{ID: d.ID}).Select("*").Omit(omit...).Updates(&r).Error; err != nil {
			return fmt.Errorf("update destination: %w", err)
		}
		if credentialsChanged || before[0].AuthFailedAt != 0 || before[0].Failures > 0 {
			return resumeDeliveries(tx, d.ID, now)
		}
		return nil
	})
	if err != nil {
		return Destination{}, err
	}
	return d, nil
}

// DeleteDestination removes a destination with its deliveries.
//
// Deliveries hold their destination's id without a foreign key on
// PostgreSQL (migration 00018), so they are deleted here rather than by a
// cascade, after the destination: its deletion waits for the webhooks
// being committed with deliveries to it (they lock it), and the
// deliveries' deletion then sees theirs.
func (s *Store) DeleteDestination(ctx context.Context, id int64) error {
	var n int64
	err := s.write(ctx, func(tx *gormDB) error {
		s.forgetDestinations()
		res := tx.Delete(&destinationRow{}, id)
		if n = res.RowsAffected; res.Error != nil || n == 0 {
			return res.Error
		}
		return tx.Exec(`DELETE FROM deliveries WHERE destination_id = ?`, id).Error
	})
	if err != nil {
		return fmt.Errorf("delete destination: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
