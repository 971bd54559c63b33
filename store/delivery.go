package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// Claimed is a delivery a worker holds a lease on, with what it needs to
// send it.
type Claimed struct {
	ID            int64
	EventID       int64
	DestinationID int64
	ShopID        int64
	Platform      string
	Kind          string
	Attempts      int // attempts made before this one
	ExpiresAt     time.Time
	Conversion    mapping.Conversion
	// Adjustment deliveries only: the refund, the order's conversion, the
	// order's value left after every refund so far, and whether the
	// conversion itself has reached this destination yet.
	Refund             *mapping.Refund
	Remaining          decimal.Decimal
	ConversionSent     bool
	ConversionRejected bool
	// Problem says why the delivery cannot be sent at all (its stored
	// conversion is unreadable, or a refund's conversion is gone); the
	// worker fails it with this reason instead of blocking the queue.
	Problem string
}

type attemptRow struct {
	ID         int64 `gorm:"primaryKey"`
	DeliveryID int64
	Attempt    int
	StartedAt  int64
	LatencyMS  int64 `gorm:"column:latency_ms"`
	StatusCode int
	Outcome    string
	Error      string
	Request    string
	Response   string
}

func (attemptRow) TableName() string { return "delivery_attempts" }

// DueDestinations lists destinations with deliveries due now, oldest due
// first (not lowest id first, so a destination that has waited longest
// goes first and none is starved by the ones listed before it). It skips
// destinations that are disabled or waiting out a rate limit. A
// destination whose breaker is open or whose credentials were refused is
// listed once its pause ends, as long as anything waits, so that one of
// its deliveries can go as a probe (see BeginProbe).
func (s *Store) DueDestinations(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	// EXISTS stops at the first due delivery of each destination (on the
	// partial index), and so does the ordering sub-select, so the look-up
	// stays cheap however long the queue.
	var ids []int64
	n := ms(now)
	err := s.rdb.WithContext(s.rctx(ctx)).Raw(`
		SELECT x.id FROM destinations x
		WHERE x.enabled = ? AND x.throttled_until <= ? AND x.paused_until <= ?
		  AND ((x.auth_failed_at = 0 AND x.failures = 0 AND EXISTS (SELECT 1 FROM deliveries d
			WHERE d.destination_id = x.id AND d.status IN ('pending', 'retrying') AND d.parked = ?
			  AND d.next_attempt_at <= ? AND d.lease_until < ?))
		   OR ((x.auth_failed_at <> 0 OR x.failures > 0) AND EXISTS (SELECT 1 FROM deliveries d
			WHERE d.destination_id = x.id AND d.status IN ('pending', 'retrying') AND d.lease_until < ?)))
		ORDER BY (SELECT d.next_attempt_at FROM deliveries d
			WHERE d.destination_id = x.id AND d.status IN ('pending', 'retrying')
			ORDER BY d.next_attempt_at LIMIT 1), x.id
		LIMIT ?`, true, n, n, false, n, n, n, limit).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("due destinations: %w", err)
	}
	return ids, nil
}

// NextDue returns when the earliest waiting delivery becomes due, or the
// zero time when none waits.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var next []int64
	err := s.rdb.WithContext(ctx).Raw(`SELECT MIN(next_attempt_at) FROM deliveries
		WHERE status IN ('pending', 'retrying') AND parked = ?`, false).Scan(&next).Error
	if err != nil || len(next) == 0 {
		return time.Time{}, err
	}
	return fromMS(next[0]), nil
}

// Claim leases up to limit due deliveries of one destination to owner
// until now+lease. On PostgreSQL the rows are locked with FOR UPDATE SKIP
// LOCKED, so replicas claiming at once never take the same delivery; a
// lease that runs out (its replica died) makes the delivery claimable
// again. On SQLite one process owns the database.
func (s *Store) Claim(ctx context.Context, destinationID int64, owner string, limit int, now time.Time, lease time.Duration) ([]Claimed, error) {
	return s.claim(ctx, destinationID, owner, limit, now, lease, false)
}

// ClaimProbe leases the one waiting delivery of a destination that has
// waited longest, parked or not and whatever its own retry time: the
// half-open probe of a paused destination, or the credential check of a
// parked one. Call BeginProbe first so replicas send one probe between
// them.
func (s *Store) ClaimProbe(ctx context.Context, destinationID int64, owner string, now time.Time, lease time.Duration) ([]Claimed, error) {
	return s.claim(ctx, destinationID, owner, 1, now, lease, true)
}

func (s *Store) claim(ctx context.Context, destinationID int64, owner string, limit int, now time.Time, lease time.Duration, probe bool) ([]Claimed, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	due := "AND parked = ? AND next_attempt_at <= ?"
	args := []any{owner, ms(now.Add(lease)), ms(now), destinationID, false, ms(now), ms(now), limit}
	if probe {
		due = ""
		args = []any{owner, ms(now.Add(lease)), ms(now), destinationID, ms(now), limit}
	}
	var rows []claimedRow
	err := s.write(ctx, func(tx *gormDB) error {
		if err := tx.Raw(`
		UPDATE deliveries SET lease_owner = ?, lease_until = ?, updated_at = ?
		WHERE id IN (
			SELECT id FROM deliveries
			WHERE destination_id = ? AND status IN ('pending', 'retrying') `+due+`
			  AND lease_until < ?
			ORDER BY next_attempt_at, id LIMIT ? `+lock+`)
		RETURNING id, event_id, destination_id, shop_id, refund_id, platform, kind, attempts, expires_at`,
			args...).Scan(&rows).Error; err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// What the deliveries carry is read outside the write lock: the claim
	// is committed, and the leases keep the rows ours.
	return loadClaimed(s.rdb.WithContext(s.rctx(ctx)), rows)
}

// claimedRow is a delivery as the claim returns it.
type claimedRow struct {
	ID, EventID, DestinationID, ShopID, RefundID int64
	Platform, Kind                               string
	Attempts                                     int
	ExpiresAt                                    int64
}

// loadClaimed completes claimed deliveries with their conversions (and,
// for adjustments, their refunds).
func loadClaimed(tx *gormDB, rows []claimedRow) ([]Claimed, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	eventIDs := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.Kind != KindAdjustment {
			eventIDs = append(eventIDs, r.EventID)
		}
	}
	convs := make(map[int64][]byte, len(eventIDs))
	if len(eventIDs) > 0 {
		// Scanned by hand: gorm's reflection over a thousand rows costs
		// more than reading them.
		q, err := tx.Raw(`SELECT id, conversion FROM events WHERE id IN ?`, padIDs(eventIDs)).Rows()
		if err != nil {
			return nil, fmt.Errorf("claim: load events: %w", err)
		}
		for q.Next() {
			var id int64
			var conv []byte
			if err := q.Scan(&id, &conv); err != nil {
				q.Close()
				return nil, fmt.Errorf("claim: load events: %w", err)
			}
			convs[id] = conv
		}
		err = q.Err()
		q.Close()
		if err != nil {
			return nil, fmt.Errorf("claim: load events: %w", err)
		}
	}
	out := make([]Claimed, 0, len(rows))
	for _, r := range rows {
		c := Claimed{
			ID: r.ID, EventID: r.EventID, DestinationID: r.DestinationID, ShopID: r.ShopID,
			Platform: r.Platform, Kind: r.Kind, Attempts: r.Attempts, ExpiresAt: fromMS(r.ExpiresAt),
		}
		if r.Kind == KindAdjustment {
			if err := loadAdjustment(tx, &c, r.RefundID); err != nil {
				c.Problem = err.Error()
			}
		} else if cj := convs[r.EventID]; len(cj) > 0 {
			if err := jsonv1.Unmarshal(cj, &c.Conversion); err != nil {
				c.Problem = fmt.Sprintf("stored conversion of event %d is unreadable: %v", r.EventID, err)
			}
		} else {
			c.Problem = fmt.Sprintf("event %d has no conversion", r.EventID)
		}
		out = append(out, c)
	}
	// Deliveries are returned in claim order; RETURNING gives no order.
	return out, nil
}

// loadAdjustment fills an adjustment's refund, the original conversion, the
// value left, and whether the conversion reached the destination.
func loadAdjustment(db *gormDB, c *Claimed, refundID int64) error {
	var rf refundRow
	if err := db.First(&rf, refundID).Error; err != nil {
		return fmt.Errorf("adjustment %d: refund: %w", c.ID, notFound(err))
	}
	amount, err := decimal.NewFromString(rf.Amount)
	if err != nil {
		return fmt.Errorf("adjustment %d: refund amount: %w", c.ID, err)
	}
	c.Refund = &mapping.Refund{RefundID: rf.RefundID, OrderID: rf.OrderID, Amount: amount, Currency: rf.Currency, Full: rf.FullRefund, Time: fromMS(rf.RefundedAt)}
	var ev eventRow
	if err := db.Select("id, conversion").First(&ev, rf.ConversionEventID).Error; err != nil {
		return fmt.Errorf("adjustment %d: conversion event: %w", c.ID, notFound(err))
	}
	if err := json.Unmarshal([]byte(ev.Conversion), &c.Conversion); err != nil {
		return fmt.Errorf("adjustment %d: conversion: %w", c.ID, err)
	}
	var amounts []string
	if err := db.Table("refunds").Select("amount").Where("shop_id = ? AND conversion_event_id = ? AND id <= ?", rf.ShopID, rf.ConversionEventID, rf.ID).Scan(&amounts).Error; err != nil {
		return err
	}
	refunded := decimal.Zero
	for _, a := range amounts {
		if d, err := decimal.NewFromString(a); err == nil {
			refunded = refunded.Add(d)
		}
	}
	c.Remaining = c.Conversion.Value.Sub(refunded)
	if rf.FullRefund || c.Remaining.IsNegative() {
		c.Remaining = decimal.Zero
	}
	var st []string
	if err := db.Table("deliveries").Select("status").Where("event_id = ? AND destination_id = ? AND kind = ?", rf.ConversionEventID, c.DestinationID, KindConversion).Scan(&st).Error; err != nil {
		return err
	}
	c.ConversionSent = len(st) > 0 && st[0] == DeliveryDelivered
	c.ConversionRejected = len(st) == 0 || st[0] == DeliveryFailed || st[0] == DeliverySkipped
	return nil
}

// Outcome is the result of one delivery attempt, to be recorded.
type Outcome struct {
	DeliveryID int64
	Attempt    int    // this attempt's number, from 1
	Status     string // DeliveryDelivered, DeliveryRetrying or DeliveryFailed
	// CountAttempt is false for a delivery put back without being sent
	// (an adjustment waiting for its conversion).
	CountAttempt  bool
	Parked        bool
	Error         string
	ErrorClass    string
	NextAttemptAt time.Time
	Payload       string
	Response      string
	StatusCode    int
	Match         string
	StartedAt     time.Time
	Latency       time.Duration
	// PlatformRequestID names a delivered request whose verdict the
	// platform gives later; PlatformCheckAt is when to first ask.
	PlatformRequestID string
	PlatformCheckAt   time.Time
}

// Complete records attempts and releases their leases, in one transaction.
// A delivery whose lease owner changed (the lease ran out and another
// replica took it) is not overwritten, and gets no attempt row. What was
// sent is kept once, in the attempt's request: the delivery's own payload
// is its latest attempt's (see Event), so the delivery row stays small
// and is updated in place. The rows
// are written a chunk at a time (one UPDATE … FROM (VALUES …) and one
// multi-row INSERT per chunk, not a statement per delivery), which is
// most of what recording a batch of 1,000 costs.
func (s *Store) Complete(ctx context.Context, owner string, outs []Outcome, now time.Time) error {
	if len(outs) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *gormDB) error {
		var attempts []attemptRow
		for start, n := range chunks(len(outs)) {
			part := outs[start : start+n]
			ids, err := completeChunk(tx, owner, part, now)
			if err != nil {
				return err
			}
			for _, o := range part {
				if !ids[o.DeliveryID] || !o.CountAttempt {
					continue
				}
				outcome := o.Status
				if o.Parked {
					outcome = DeliveryWaitingCredentials
				}
				attempts = append(attempts, attemptRow{
					DeliveryID: o.DeliveryID, Attempt: o.Attempt, StartedAt: ms(o.StartedAt),
					LatencyMS: o.Latency.Milliseconds(), StatusCode: o.StatusCode, Outcome: outcome,
					Error: o.Error, Request: o.Payload, Response: o.Response,
				})
			}
		}
		return insertAttempts(tx, attempts)
	})
}

// completeColumns are the VALUES columns of completeChunk, typed in the
// first row (PostgreSQL infers a VALUES column's type from its rows; the
// casts are no-ops on SQLite).
var completeColumns = []string{
	"CAST(? AS BIGINT)",  // column1 id
	"CAST(? AS TEXT)",    // column2 status
	"CAST(? AS INTEGER)", // column3 attempts added
	"CAST(? AS TEXT)",    // column4 last_error
	"CAST(? AS TEXT)",    // column5 error_class
	"CAST(? AS BOOLEAN)", // column6 parked
	"CAST(? AS BIGINT)",  // column7 next_attempt_at
	"CAST(? AS BIGINT)",  // column8 delivered_at
	"CAST(? AS TEXT)",    // column9 payload: a new one (kept in the attempt) clears the one stored before
	"CAST(? AS TEXT)",    // column10 response
	"CAST(? AS INTEGER)", // column11 status_code
	"CAST(? AS TEXT)",    // column12 match_info ('' keeps the last one)
	"CAST(? AS BOOLEAN)", // column13 delivered: the platform follow-up starts afresh
	"CAST(? AS TEXT)",    // column14 platform_request_id
	"CAST(? AS TEXT)",    // column15 platform_status
	"CAST(? AS BIGINT)",  // column16 platform_check_at
}

// completeChunk writes the outcomes of part in one statement and returns
// the deliveries it wrote (those still leased to owner).
func completeChunk(tx *gormDB, owner string, part []Outcome, now time.Time) (map[int64]bool, error) {
	args := make([]any, 0, 2+len(part)*len(completeColumns))
	args = append(args, ms(now))
	for _, o := range part {
		delivered := o.Status == DeliveryDelivered
		inc := 0
		if o.CountAttempt {
			inc = 1
		}
		args = append(args, o.DeliveryID, o.Status, inc, o.Error, o.ErrorClass, o.Parked, ms(o.NextAttemptAt),
			deliveredAt(o, now), o.Payload, o.Response, o.StatusCode, o.Match,
			// A delivered request starts (or ends) its follow-up afresh.
			delivered, o.PlatformRequestID, followStatus(o), ms(o.PlatformCheckAt))
	}
	args = append(args, owner)
	rows, err := tx.Raw(`UPDATE deliveries SET status = v.column2, attempts = attempts + v.column3,
		last_error = v.column4, error_class = v.column5, parked = v.column6, next_attempt_at = v.column7,
		delivered_at = v.column8, payload = CASE WHEN v.column9 = '' THEN payload ELSE '' END,
		packed = CASE WHEN v.column9 = '' THEN packed ELSE NULL END,
		response = v.column10, status_code = v.column11,
		match_info = CASE WHEN v.column12 = '' THEN match_info ELSE v.column12 END,
		lease_owner = '', lease_until = 0, updated_at = ?,
		platform_request_id = CASE WHEN v.column13 THEN v.column14 ELSE platform_request_id END,
		platform_status = CASE WHEN v.column13 THEN v.column15 ELSE platform_status END,
		platform_detail = CASE WHEN v.column13 THEN '' ELSE platform_detail END,
		platform_check_at = CASE WHEN v.column13 THEN v.column16 ELSE platform_check_at END
		FROM (VALUES `+valuesList(completeColumns, len(part))+`) AS v
		WHERE deliveries.id = v.column1 AND deliveries.lease_owner = ?
		RETURNING deliveries.id`, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("complete deliveries: %w", err)
	}
	defer rows.Close()
	ids := make(map[int64]bool, len(part))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("complete deliveries: %w", err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("complete deliveries: %w", err)
	}
	return ids, nil
}

// attemptColumns are delivery_attempts' columns as insertAttempts writes
// them.
var attemptColumns = []string{"?", "?", "?", "?", "?", "?", "?", "?", "?"}

// insertAttempts adds attempt rows, a chunk per statement.
func insertAttempts(tx *gormDB, attempts []attemptRow) error {
	for start, n := range chunks(len(attempts)) {
		args := make([]any, 0, n*len(attemptColumns))
		for _, a := range attempts[start : start+n] {
			args = append(args, a.DeliveryID, a.Attempt, a.StartedAt, a.LatencyMS, a.StatusCode, a.Outcome, a.Error, a.Request, a.Response)
		}
		if err := tx.Exec(`INSERT INTO delivery_attempts (delivery_id, attempt, started_at, latency_ms, status_code, outcome, error, request, response)
			VALUES `+valuesList(attemptColumns, n), args...).Error; err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
	}
	return nil
}

// followStatus is a delivered outcome's platform_status: "processing" when
// the platform's verdict is to be read back, "" otherwise.
func followStatus(o Outcome) string {
	if o.PlatformRequestID != "" {
		return PlatformProcessing
	}
	return ""
}

func deliveredAt(o Outcome, now time.Time) int64 {
	if o.Status == DeliveryDelivered {
		return ms(now)
	}
	return 0
}

// ReleaseLeases gives back every lease owner holds (graceful shutdown), so
// another process can send those deliveries at once.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`UPDATE deliveries SET lease_owner = '', lease_until = 0 WHERE lease_owner = ?`, owner).Error
	})
}

// ReleaseClaims gives back owner's leases on ids untouched (a batch
// claimed ahead that will not be sent now), so they are due again at once
// for whoever claims next.
func (s *Store) ReleaseClaims(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.exec(ctx, func(db *gormDB) error {
		if err := db.Exec(`UPDATE deliveries SET lease_owner = '', lease_until = 0 WHERE lease_owner = ? AND id IN ?`,
			owner, padIDs(ids)).Error; err != nil {
			return fmt.Errorf("release claims: %w", err)
		}
		return nil
	})
}

// ThrottleDestination makes a destination wait until until before its next
// send, after the platform asked it to slow down.
func (s *Store) ThrottleDestination(ctx context.Context, id int64, until time.Time) error {
	return s.exec(ctx, func(db *gormDB) error {
		return db.Exec(`UPDATE destinations SET throttled_until = ? WHERE id = ? AND throttled_until < ?`,
			ms(until), id, ms(until)).Error
	})
}

// ExpireDeliveries fails every waiting delivery whose platform window has
// closed, parked ones included, and reports how many.
func (s *Store) ExpireDeliveries(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`UPDATE deliveries SET status = ?, parked = ?, error_class = 'expired',
		last_error = CASE WHEN last_error = '' THEN 'not delivered before the platform''s event window closed'
			ELSE 'not delivered before the platform''s event window closed; last error: ' || last_error END,
		updated_at = ?
		WHERE status IN ('pending', 'retrying') AND expires_at < ? AND lease_until < ?`,
			DeliveryFailed, false, ms(now), ms(now), ms(now))
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

// ReleaseAllLeases gives back every lease. Only a process that owns the
// database alone may call it: on SQLite, at start, to take over at once
// from a process that was killed mid-send (at least once: those sends are
// repeated).
func (s *Store) ReleaseAllLeases(ctx context.Context) (int64, error) {
	var n int64
	err := s.exec(ctx, func(db *gormDB) error {
		res := db.Exec(`UPDATE deliveries SET lease_owner = '', lease_until = 0 WHERE lease_owner <> ''`)
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
