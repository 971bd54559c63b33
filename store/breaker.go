package store

import (
	"context"
	"fmt"
	"time"
)

// A destination is in one of three states, kept on its row so replicas
// agree and a restart keeps them:
//
//   - sending: auth_failed_at = 0, failures = 0; its due deliveries go.
//   - paused (breaker open): failures > 0; nothing goes until
//     paused_until, then one delivery goes as a probe (half-open).
//   - parked: auth_failed_at > 0, the platform refused the credentials;
//     its deliveries wait (as waiting_credentials) and one of them goes as
//     a probe at paused_until.
//
// How long a pause lasts is the caller's policy; the store only records it.

// BeginProbe takes the right to send a paused or parked destination's
// probe: it moves paused_until to now+hold, so that other replicas (and
// this one) leave the destination alone while the probe is on the wire.
// It reports false when the destination is not waiting for a probe or
// another worker took it first.
func (s *Store) BeginProbe(ctx context.Context, id int64, now time.Time, hold time.Duration) (bool, error) {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`UPDATE destinations SET paused_until = ?
			WHERE id = ? AND paused_until <= ? AND (auth_failed_at <> 0 OR failures > 0)`,
			ms(now.Add(hold)), id, ms(now))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("begin probe: %w", err)
	}
	return n == 1, nil
}

// PauseDestination opens a destination's breaker after failures batches in
// a row failed whole: nothing is sent to it before until, then one probe.
// A parked destination stays parked.
func (s *Store) PauseDestination(ctx context.Context, id int64, failures int, until time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		if err := db.Exec(`UPDATE destinations SET failures = ?, paused_until = ? WHERE id = ?`,
			failures, ms(until), id).Error; err != nil {
			return fmt.Errorf("pause destination: %w", err)
		}
		return nil
	})
}

// ParkDestination flags a destination whose credentials the platform
// refused, with its first probe in DefaultProbeDelay (see
// ParkDestinationUntil).
func (s *Store) ParkDestination(ctx context.Context, id int64, reason string, now time.Time) error {
	return s.ParkDestinationUntil(ctx, id, reason, 1, now, now.Add(DefaultProbeDelay))
}

// DefaultProbeDelay is when ParkDestination probes refused credentials
// first; the delivery worker chooses its own.
const DefaultProbeDelay = 5 * time.Minute

// ParkDestinationUntil flags a destination whose credentials the platform
// refused (probes counts the refusals in a row): its waiting deliveries
// are parked, shown as waiting for credentials, and one of them is sent
// again as a probe at probeAt, or at once when the destination is saved.
func (s *Store) ParkDestinationUntil(ctx context.Context, id int64, reason string, probes int, now, probeAt time.Time) error {
	return s.write(ctx, func(tx *gormDB) error {
		if err := tx.Exec(`UPDATE destinations SET auth_failed_at = CASE WHEN auth_failed_at = 0 THEN ? ELSE auth_failed_at END,
			auth_error = ?, failures = ?, paused_until = ?, updated_at = ? WHERE id = ?`,
			ms(now), reason, probes, ms(probeAt), ms(now), id).Error; err != nil {
			return fmt.Errorf("park destination: %w", err)
		}
		if err := tx.Exec(`UPDATE deliveries SET parked = ?, updated_at = ?
			WHERE destination_id = ? AND status IN ('pending', 'retrying') AND parked = ?`,
			true, ms(now), id, false).Error; err != nil {
			return fmt.Errorf("park destination: %w", err)
		}
		return nil
	})
}

// RecoverDestination closes a destination's breaker and lifts its
// parking after a probe (or any send) was accepted: every delivery still
// waiting becomes due now, so an outage ends when the platform recovers
// rather than when each delivery's own backoff runs out. It reports how
// many deliveries were made due.
func (s *Store) RecoverDestination(ctx context.Context, id int64, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *gormDB) error {
		if err := tx.Exec(`UPDATE destinations SET auth_failed_at = 0, auth_error = '', failures = 0, paused_until = 0
			WHERE id = ?`, id).Error; err != nil {
			return fmt.Errorf("recover destination: %w", err)
		}
		res := tx.Exec(`UPDATE deliveries SET parked = ?, next_attempt_at = ?, updated_at = ?
			WHERE destination_id = ? AND status IN ('pending', 'retrying') AND (parked = ? OR next_attempt_at > ?)`,
			false, ms(now), ms(now), id, true, ms(now))
		n = res.RowsAffected
		if res.Error != nil {
			return fmt.Errorf("recover destination: %w", res.Error)
		}
		return nil
	})
	return n, err
}

// resumeDeliveries makes a destination's waiting deliveries due at once.
func resumeDeliveries(tx *gormDB, id int64, now time.Time) error {
	return tx.Exec(`UPDATE deliveries SET parked = ?, next_attempt_at = ?, updated_at = ?
		WHERE destination_id = ? AND status IN ('pending', 'retrying') AND (parked = ? OR next_attempt_at > ?)`,
		false, ms(now), ms(now), id, true, ms(now)).Error
}

// RenewLeases extends owner's leases on ids to until, while their send is
// still in flight; a lease another worker took over is left alone.
func (s *Store) RenewLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.exec(ctx, func(db *gormDB) error {
		if err := db.Exec(`UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? AND id IN ?`,
			ms(until), owner, padIDs(ids)).Error; err != nil {
			return fmt.Errorf("renew leases: %w", err)
		}
		return nil
	})
}

// WaitingCredentials counts, per platform, the deliveries waiting for a
// destination's credentials to work again, and when the first of them
// reaches the platform's event window.
type WaitingCredentials struct {
	Platform    string
	Count       int64
	FirstExpiry time.Time
}

// WaitingForCredentials lists the deliveries waiting for credentials, per
// platform.
func (s *Store) WaitingForCredentials(ctx context.Context) ([]WaitingCredentials, error) {
	var rows []struct {
		Platform string
		N        int64
		First    int64
	}
	err := s.rdb.WithContext(ctx).Raw(`SELECT d.platform, COUNT(*) AS n, MIN(d.expires_at) AS first FROM deliveries d
		WHERE d.status IN ('pending', 'retrying')
		  AND (d.parked = ? OR d.destination_id IN (SELECT id FROM destinations WHERE auth_failed_at <> 0))
		GROUP BY d.platform ORDER BY d.platform`, true).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("waiting for credentials: %w", err)
	}
	out := make([]WaitingCredentials, 0, len(rows))
	for _, r := range rows {
		out = append(out, WaitingCredentials{Platform: r.Platform, Count: r.N, FirstExpiry: fromMS(r.First)})
	}
	return out, nil
}
