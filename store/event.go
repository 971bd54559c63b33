package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/postbackhq/postback/mapping"
	"gorm.io/gorm/clause"
)

// DeliveryWaitingCredentials is how a waiting delivery shows while its
// destination's credentials are refused: stored as pending or retrying
// (and parked), it goes again when a probe or a save shows they work.
const DeliveryWaitingCredentials = "waiting_credentials"

// parkedSQL selects the waiting deliveries of destinations whose
// credentials were refused.
const parkedSQL = `status IN ('pending', 'retrying') AND (parked = ? OR destination_id IN (SELECT id FROM destinations WHERE auth_failed_at <> 0))`

// Event is one webhook as stored, with what became of it.
type Event struct {
	ID          int64
	ShopID      int64
	Source      string
	Topic       string
	Kind        string
	DeliveryID  string
	OrderID     string
	Status      string
	Reason      string
	DuplicateOf int64
	// Duplicates counts the later webhooks that repeated this one (same
	// delivery, or the same order bringing nothing new); they are not
	// stored again. LastDuplicateAt is when the latest arrived.
	Duplicates        int64
	LastDuplicateAt   time.Time
	ReceivedAt        time.Time
	OccurredAt        time.Time
	Value             string
	Currency          string
	EventName         string
	ConversionEventID string
	Test              bool
	Conversion        *mapping.Conversion
	Refunds           []mapping.Refund
	Match             *mapping.Match
	// Origin is webhook, or reconciliation for an order backfilled from
	// the store's API.
	Origin string
	// Body is the raw webhook body; loaded by Event only.
	Body       []byte
	Deliveries []Delivery
}

// Delivery is one event's journey to one destination.
type Delivery struct {
	ID            int64
	EventID       int64
	DestinationID int64
	Platform      string
	Kind          string
	Status        string
	Attempts      int
	LastError     string
	ErrorClass    string
	Parked        bool
	NextAttemptAt time.Time
	ExpiresAt     time.Time
	DeliveredAt   time.Time
	Payload       string
	Response      string
	StatusCode    int
	Match         *mapping.Match
	// PlatformRequestID, PlatformStatus and PlatformDetail are the
	// platform's own verdict on a request it processes after answering
	// (Google Data Manager): empty when not followed up, then "processing"
	// until "accepted", "partial", "rejected" or "unknown".
	PlatformRequestID string
	PlatformStatus    string
	PlatformDetail    string
	// History is every attempt, oldest first; loaded by Event only.
	History []Attempt
}

// Attempt is one try at sending a delivery.
type Attempt struct {
	Attempt    int
	StartedAt  time.Time
	Latency    time.Duration
	StatusCode int
	Outcome    string
	Error      string
	Request    string
	Response   string
}

// EventFilter selects events for a list, newest first.
type EventFilter struct {
	ShopID         int64
	Status         string
	Source         string
	DeliveryStatus string
	// Platform keeps events with a delivery to that platform (with
	// DeliveryStatus, a delivery to that platform in that state).
	Platform string
	// Query finds an order by its name or number (#1100), order id, the
	// pixel's event id, a click id, or the buyer's email.
	Query string
	// From and To bound the received time: From <= received_at < To. Zero
	// means unbounded.
	From, To time.Time
	// Match keeps events whose match quality falls in a band (MatchLow,
	// MatchMedium, MatchHigh).
	Match string
	// Before is the cursor: only events with a smaller id.
	Before int64
	Limit  int
}

// Events lists events newest first with their deliveries (without bodies
// or attempt history).
func (s *Store) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	if f.Query != "" || f.Match != "" {
		s.catchUpSearch(ctx)
	}
	q := s.rdb.WithContext(ctx).Model(&eventRow{}).Omit("body")
	if f.ShopID != 0 {
		q = q.Where("shop_id = ?", f.ShopID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Source != "" {
		q = q.Where("source = ?", f.Source)
	}
	// A filter that keeps most events (a platform every order goes to, a
	// delivered state, a match band) is checked per event while the list
	// walks ids newest first, and stops after one page; a filter that keeps
	// few (failed, retrying, pending, waiting_credentials) reads its few ids
	// from the index first. Measured on a million events: BenchmarkEventList.
	common := f.DeliveryStatus == "" || f.DeliveryStatus == DeliveryDelivered
	// Waiting deliveries of a destination whose credentials were refused
	// show as waiting_credentials, not pending or retrying.
	waitCond, waitArgs := "", []any(nil)
	switch f.DeliveryStatus {
	case DeliveryWaitingCredentials:
		waitCond, waitArgs = parkedSQL, []any{true}
	case DeliveryPending, DeliveryRetrying:
		waitCond, waitArgs = "status = ? AND NOT ("+parkedSQL+")", []any{f.DeliveryStatus, true}
	}
	switch {
	case (f.Platform != "" || f.DeliveryStatus != "") && common:
		// "|| ''" keeps both databases on the event's own deliveries
		// (the unique index on event_id) instead of the platform index,
		// which would read every delivery to that platform per event.
		cond, args := "d.event_id = events.id", []any{}
		if f.Platform != "" {
			cond, args = cond+" AND d.platform || '' = ?", append(args, f.Platform)
		}
		if f.DeliveryStatus != "" {
			cond, args = cond+" AND d.status || '' = ?", append(args, f.DeliveryStatus)
		}
		// A scalar subquery, not EXISTS: SQLite rewrites EXISTS into IN,
		// which reads every matching delivery before the first page.
		q = q.Where("(SELECT 1 FROM deliveries d WHERE "+cond+" LIMIT 1) = 1", args...)
	case waitCond != "":
		if f.Platform != "" {
			waitCond, waitArgs = "platform = ? AND "+waitCond, append([]any{f.Platform}, waitArgs...)
		}
		q = q.Where("id IN (SELECT event_id FROM deliveries WHERE "+waitCond+")", waitArgs...)
	case f.Platform != "":
		q = q.Where("id IN (SELECT event_id FROM deliveries WHERE platform = ? AND status = ?)", f.Platform, f.DeliveryStatus)
	case f.DeliveryStatus != "":
		q = q.Where("id IN (SELECT event_id FROM deliveries WHERE status = ?)", f.DeliveryStatus)
	}
	if f.Query != "" {
		terms := queryTerms(f.Query)
		if len(terms) == 0 {
			return nil, nil
		}
		if s.SearchReadsQueue() {
			// One IN over both sources (not an OR of two), so that the
			// few matching ids are read first and then their events.
			queued, args := queuedTermsSQL(terms)
			q = q.Where("id IN (SELECT event_id FROM event_search WHERE term IN ? UNION ALL SELECT q.event_id FROM search_queue q WHERE "+queued+")",
				append([]any{terms}, args...)...)
		} else {
			q = q.Where("id IN (SELECT event_id FROM event_search WHERE term IN ?)", terms)
		}
	}
	if f.Match != "" {
		band := termMatch + f.Match
		if s.SearchReadsQueue() {
			queued, args := queuedTermsSQL([]string{band})
			q = q.Where("((SELECT 1 FROM event_search s WHERE s.term = ? AND s.event_id = events.id) = 1 OR "+
				"(SELECT 1 FROM search_queue q WHERE q.event_id = events.id AND "+queued+") = 1)", append([]any{band}, args...)...)
		} else {
			q = q.Where("(SELECT 1 FROM event_search s WHERE s.term = ? AND s.event_id = events.id) = 1", band)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("received_at >= ?", ms(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("received_at < ?", ms(f.To))
	}
	order := "id DESC"
	switch {
	case f.From.IsZero() && f.To.IsZero():
		if f.Before > 0 {
			q = q.Where("id < ?", f.Before)
		}
	default:
		// A date range walks the received-time index newest first, so a
		// day out of a million events is one index range, not a sort of
		// every event in it; the cursor (an event id) continues from that
		// event's place in the same order.
		order = "received_at DESC, id DESC"
		if f.Before > 0 {
			var at []int64
			if err := s.rdb.WithContext(ctx).Raw(`SELECT received_at FROM events WHERE id = ?`, f.Before).Scan(&at).Error; err != nil {
				return nil, fmt.Errorf("list events: %w", err)
			}
			if len(at) == 0 {
				q = q.Where("id < ?", f.Before) // the cursor's event is gone (pruned): fall back to ids
			} else {
				q = q.Where("(received_at < ? OR (received_at = ? AND id < ?))", at[0], at[0], f.Before)
			}
		}
	}
	var rows []eventRow
	if err := q.Order(order).Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out := make([]Event, 0, len(rows))
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		e, err := rowToEvent(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		return out, nil
	}
	var drows []deliveryRow
	if err := s.rdb.WithContext(ctx).Omit("payload", "response", "packed").Where("event_id IN ?", ids).Order("id").Find(&drows).Error; err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	parked, err := s.parkedDestinations(ctx, drows)
	if err != nil {
		return nil, err
	}
	byEvent := map[int64][]Delivery{}
	for _, d := range drows {
		byEvent[d.EventID] = append(byEvent[d.EventID], waiting(rowToDelivery(d), parked))
	}
	for i := range out {
		out[i].Deliveries = byEvent[out[i].ID]
	}
	return out, nil
}

// Event returns one event with its body, deliveries and attempt history.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	var r eventRow
	if err := s.rdb.WithContext(ctx).First(&r, id).Error; err != nil {
		return Event{}, notFound(err)
	}
	e, err := rowToEvent(r)
	if err != nil {
		return Event{}, err
	}
	if e.Body, err = bodyOf(r.Body, r.BodyCodec); err != nil {
		return Event{}, fmt.Errorf("event %d body: %w", id, err)
	}
	var drows []deliveryRow
	if err := s.rdb.WithContext(ctx).Where("event_id = ?", id).Order("id").Find(&drows).Error; err != nil {
		return Event{}, err
	}
	var arows []attemptRow
	if len(drows) > 0 {
		ids := make([]int64, len(drows))
		for i, d := range drows {
			ids[i] = d.ID
		}
		if err := s.rdb.WithContext(ctx).Where("delivery_id IN ?", ids).Order("delivery_id, attempt, id").Find(&arows).Error; err != nil {
			return Event{}, err
		}
		if err := unpackAttempts(s.rdb.WithContext(ctx), ids, arows); err != nil {
			return Event{}, fmt.Errorf("event %d attempts: %w", id, err)
		}
	}
	parked, err := s.parkedDestinations(ctx, drows)
	if err != nil {
		return Event{}, err
	}
	for _, d := range drows {
		if d.Payload == "" && d.Response == "" && len(d.Packed) > 0 {
			if d.Payload, d.Response, err = unpack(d.Packed); err != nil {
				return Event{}, fmt.Errorf("delivery %d: %w", d.ID, err)
			}
		}
		del := waiting(rowToDelivery(d), parked)
		for _, a := range arows {
			if a.DeliveryID == d.ID {
				del.History = append(del.History, Attempt{
					Attempt: a.Attempt, StartedAt: fromMS(a.StartedAt), Latency: time.Duration(a.LatencyMS) * time.Millisecond,
					StatusCode: a.StatusCode, Outcome: attemptOutcome(a.Outcome), Error: a.Error, Request: a.Request, Response: a.Response,
				})
				if d.Payload == "" && a.Request != "" {
					// What was sent last is kept in its attempt only
					// (see Complete); older deliveries kept it in their row.
					del.Payload = a.Request
				}
			}
		}
		e.Deliveries = append(e.Deliveries, del)
	}
	return e, nil
}

func rowToEvent(r eventRow) (Event, error) {
	e := Event{
		ID: r.ID, ShopID: r.ShopID, Source: r.Source, Topic: r.Topic, Kind: r.Kind, DeliveryID: r.DeliveryID,
		OrderID: r.OrderID, Status: r.Status, Reason: r.Reason, DuplicateOf: r.DuplicateOf,
		Duplicates: r.Duplicates, LastDuplicateAt: fromMS(r.LastDuplicateAt),
		ReceivedAt: fromMS(r.ReceivedAt), OccurredAt: fromMS(r.OccurredAt), Value: r.Value, Currency: r.Currency,
		EventName: r.EventName, ConversionEventID: r.ConversionEventID, Test: r.Test, Origin: r.Origin,
	}
	if e.Origin == "" {
		e.Origin = OriginWebhook
	}
	if r.Conversion != "" {
		e.Conversion = new(mapping.Conversion)
		if err := json.Unmarshal([]byte(r.Conversion), e.Conversion); err != nil {
			return Event{}, fmt.Errorf("event %d conversion: %w", r.ID, err)
		}
	}
	if r.Refunds != "" {
		if err := json.Unmarshal([]byte(r.Refunds), &e.Refunds); err != nil {
			return Event{}, fmt.Errorf("event %d refunds: %w", r.ID, err)
		}
	}
	if r.MatchInfo != "" {
		e.Match = new(mapping.Match)
		if err := json.Unmarshal([]byte(r.MatchInfo), e.Match); err != nil {
			return Event{}, fmt.Errorf("event %d match: %w", r.ID, err)
		}
	}
	return e, nil
}

func rowToDelivery(d deliveryRow) Delivery {
	del := Delivery{
		ID: d.ID, EventID: d.EventID, DestinationID: d.DestinationID, Platform: d.Platform, Kind: d.Kind,
		Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, ErrorClass: d.ErrorClass, Parked: d.Parked,
		NextAttemptAt: fromMS(d.NextAttemptAt), ExpiresAt: fromMS(d.ExpiresAt), DeliveredAt: fromMS(d.DeliveredAt),
		Payload: d.Payload, Response: d.Response, StatusCode: d.StatusCode,
		PlatformRequestID: d.PlatformRequestID, PlatformStatus: d.PlatformStatus, PlatformDetail: d.PlatformDetail,
	}
	if d.MatchInfo != "" {
		var m mapping.Match
		if json.Unmarshal([]byte(d.MatchInfo), &m) == nil {
			del.Match = &m
		}
	}
	if del.Status == DeliveryDelivered || del.Status == DeliveryFailed || del.Status == DeliverySkipped {
		del.NextAttemptAt = time.Time{}
	}
	return del
}

// parkedDestinations maps the destinations of rows whose credentials are
// refused to the platform's reason.
func (s *Store) parkedDestinations(ctx context.Context, rows []deliveryRow) (map[int64]string, error) {
	seen := map[int64]bool{}
	var ids []int64
	for _, d := range rows {
		if (d.Status == DeliveryPending || d.Status == DeliveryRetrying) && !seen[d.DestinationID] {
			seen[d.DestinationID] = true
			ids = append(ids, d.DestinationID)
		}
	}
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var dests []struct {
		ID        int64
		AuthError string
	}
	if err := s.rdb.WithContext(ctx).Table("destinations").Select("id, auth_error").
		Where("id IN ? AND auth_failed_at <> 0", ids).Scan(&dests).Error; err != nil {
		return nil, fmt.Errorf("list deliveries: destinations: %w", err)
	}
	for _, d := range dests {
		out[d.ID] = d.AuthError
	}
	return out, nil
}

// waiting shows a delivery held by refused credentials as
// waiting_credentials, with the platform's reason.
func waiting(d Delivery, parked map[int64]string) Delivery {
	if d.Status != DeliveryPending && d.Status != DeliveryRetrying {
		return d
	}
	reason, destParked := parked[d.DestinationID]
	if !d.Parked && !destParked {
		return d
	}
	d.Status, d.Parked = DeliveryWaitingCredentials, true
	if d.LastError == "" {
		d.LastError = "waiting for new credentials: " + reason
		d.ErrorClass = "auth"
	}
	return d
}

// Redeliver queues an accepted event again: its failed deliveries, or with
// all every delivery, and with all also destinations enabled since that
// never had one. A redelivered event gets a fresh acceptance window from
// now, but platforms still refuse events older than their limit, which the
// sender reports. It returns how many deliveries were queued.
func (s *Store) Redeliver(ctx context.Context, eventID int64, all bool, routing Routing, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *gormDB) error {
		var ev eventRow
		if err := tx.Select("id, shop_id, status, conversion, test").First(&ev, eventID).Error; err != nil {
			return notFound(err)
		}
		if ev.Status != StatusAccepted || ev.Conversion == "" {
			return fmt.Errorf("%w: event %d is %s, not an accepted conversion", ErrNotRedeliverable, eventID, ev.Status)
		}
		var conv mapping.Conversion
		if err := json.Unmarshal([]byte(ev.Conversion), &conv); err != nil {
			return err
		}
		statuses := []string{DeliveryFailed, DeliverySkipped}
		if all {
			statuses = []string{DeliveryFailed, DeliverySkipped, DeliveryDelivered, DeliveryRetrying, DeliveryPending}
		}
		var rows []deliveryRow
		if err := tx.Select("id, platform, destination_id").Where("event_id = ? AND kind = ? AND status IN ?", eventID, KindConversion, statuses).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			res := tx.Exec(`UPDATE deliveries SET status = ?, parked = ?, next_attempt_at = ?, expires_at = ?, last_error = '', error_class = '', updated_at = ? WHERE id = ?`,
				DeliveryPending, false, ms(now), ms(now.Add(routing.MaxAge(r.Platform))), ms(now), r.ID)
			if res.Error != nil {
				return res.Error
			}
			n++
		}
		if !all {
			return nil
		}
		var dests []destinationInfo
		q := tx.Table("destinations").Select("id, shop_id, platform, settings").
			Where("shop_id = ? AND enabled = ? AND id NOT IN (SELECT destination_id FROM deliveries WHERE event_id = ? AND kind = ?)", ev.ShopID, true, eventID, KindConversion)
		if s.dialect == Postgres {
			// Locked against deletion, as the ingest locks them (see
			// DeleteDestination): deliveries have no key to them there.
			q = q.Clauses(clause.Locking{Strength: "KEY SHARE"})
		}
		if err := q.Scan(&dests).Error; err != nil {
			return err
		}
		for _, d := range dests {
			d.settings = map[string]string{}
			if d.Settings != "" {
				if err := json.Unmarshal([]byte(d.Settings), &d.settings); err != nil {
					return err
				}
			}
			if !routing.Accepts(d.Platform, d.settings, conv.Test) {
				continue
			}
			if err := queueDelivery(tx, eventID, d, KindConversion, 0, now, ms(now.Add(routing.MaxAge(d.Platform)))); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Prune deletes events received before before whose deliveries are all
// finished (delivered or failed), with their deliveries and attempts, at
// most limit at a time, and reports how many went. The order keys that
// stop an order converting twice are kept: they are small, and a late
// webhook about an old order must still be a duplicate.
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *gormDB) error {
		var ids []int64
		if err := tx.Raw(`SELECT id FROM events e WHERE e.received_at < ?
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'retrying'))
			ORDER BY id LIMIT ?`, ms(before), limit).Scan(&ids).Error; err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.Exec(`DELETE FROM webhook_deliveries WHERE event_id IN ?`, ids).Error; err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		// Deliveries and their attempts go with the event (ON DELETE
		// CASCADE). The events go first: on PostgreSQL, where the search
		// index has no key to events, that waits for an indexer writing
		// their terms (it locks them), and the deletes after see those.
		res := tx.Exec(`DELETE FROM events WHERE id IN ?`, ids)
		if n = res.RowsAffected; res.Error != nil {
			return fmt.Errorf("prune: %w", res.Error)
		}
		for _, q := range []string{`DELETE FROM event_search WHERE event_id IN ?`, `DELETE FROM search_queue WHERE event_id IN ?`} {
			if err := tx.Exec(q, ids).Error; err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
		return nil
	})
	return n, err
}

// attemptOutcome is an attempt's outcome in the one vocabulary of a
// delivery's states: attempts recorded before it say "parked" for
// waiting_credentials.
func attemptOutcome(o string) string {
	if o == "parked" {
		return DeliveryWaitingCredentials
	}
	return o
}
