package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// BeaconTTL is how long a beacon no order has claimed is kept.
const BeaconTTL = 24 * time.Hour

// scriptSeenStep is how stale shops.script_seen_at may get before a
// beacon refreshes it, so that a busy shop does not write its row on
// every beacon.
const scriptSeenStep = time.Hour

// Beacon outcomes, as stored and shown.
const (
	BeaconStored    = "stored"    // kept until an order claims it
	BeaconJoined    = "joined"    // added to its order's conversion
	BeaconDuplicate = "duplicate" // a beacon for this order came before
	BeaconTooLate   = "too_late"  // the order's conversions were already sent
)

// NewPublicID returns a random, URL-safe public id of 128 bits.
func NewPublicID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ShopByPublicID returns the shop a storefront script names.
func (s *Store) ShopByPublicID(ctx context.Context, publicID string) (Shop, error) {
	if publicID == "" {
		return Shop{}, ErrNotFound
	}
	var r shopRow
	if err := s.rdb.WithContext(s.rctx(ctx)).Where("public_id = ?", publicID).First(&r).Error; err != nil {
		return Shop{}, notFound(err)
	}
	return s.rowToShop(r)
}

type beaconRow struct {
	ID         int64 `gorm:"primaryKey"`
	ShopID     int64
	OrderRef   string
	Data       string
	ReceivedAt int64
	EventID    int64
	Outcome    string
	ExpiresAt  int64
}

func (beaconRow) TableName() string { return "beacons" }

// BeaconResult is what became of a beacon.
type BeaconResult struct {
	Outcome string
	// EventID is the conversion the beacon joined, 0 if none yet.
	EventID int64
	// Released says held deliveries became due now: wake the worker.
	Released bool
}

// SaveBeacon stores a browser beacon for one of a shop's orders. If the
// order's conversion is already here and waiting for it, the beacon is
// added to the conversion (only what it lacks) and the held deliveries
// become due at once; if any of them was already sent (or is being sent),
// the beacon is kept but not used. A second beacon for the same order is
// ignored. Nothing about another shop's or another order's data changes.
func (s *Store) SaveBeacon(ctx context.Context, shopID int64, b mapping.Beacon, now time.Time) (BeaconResult, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return BeaconResult{}, err
	}
	var res BeaconResult
	err = s.write(ctx, func(tx *gormDB) error {
		if err := tx.Exec(`UPDATE shops SET script_seen_at = ? WHERE id = ? AND script_seen_at < ?`,
			ms(now), shopID, ms(now.Add(-scriptSeenStep))).Error; err != nil {
			return fmt.Errorf("mark script seen: %w", err)
		}
		ins := tx.Exec(`INSERT INTO beacons (shop_id, order_ref, data, received_at, event_id, outcome, expires_at)
			VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT DO NOTHING`,
			shopID, b.OrderRef, string(data), ms(now), BeaconStored, ms(now.Add(BeaconTTL)))
		if ins.Error != nil {
			return fmt.Errorf("insert beacon: %w", ins.Error)
		}
		if ins.RowsAffected > 0 {
			res.Outcome = BeaconStored
			return nil
		}
		// The order's row exists: an earlier beacon, or a conversion
		// waiting for this one.
		var row beaconRow
		if err := tx.Where("shop_id = ? AND order_ref = ?", shopID, b.OrderRef).First(&row).Error; err != nil {
			return fmt.Errorf("load beacon: %w", notFound(err))
		}
		if row.Data != "" || row.EventID == 0 {
			res.Outcome = BeaconDuplicate
			return nil
		}
		// Take the waiting row before joining: of two beacons for one order
		// on two replicas, the second waits here for the first to commit
		// and then finds the row taken (PostgreSQL re-checks the WHERE of
		// an UPDATE against the committed row), so one beacon joins, once.
		took := tx.Exec(`UPDATE beacons SET data = ?, received_at = ?, outcome = ? WHERE id = ? AND data = ''`,
			string(data), ms(now), BeaconTooLate, row.ID)
		if took.Error != nil {
			return fmt.Errorf("take held beacon row: %w", took.Error)
		}
		if took.RowsAffected == 0 {
			res.Outcome = BeaconDuplicate
			return nil
		}
		res.EventID = row.EventID
		joined, err := s.joinLate(tx, row.EventID, b, now)
		if err != nil {
			return err
		}
		res.Outcome, res.Released = BeaconTooLate, joined
		if !joined {
			return nil
		}
		res.Outcome = BeaconJoined
		return tx.Exec(`UPDATE beacons SET outcome = ? WHERE id = ?`, BeaconJoined, row.ID).Error
	})
	if err != nil {
		return BeaconResult{}, fmt.Errorf("save beacon: %w", err)
	}
	return res, nil
}

// joinLate adds a beacon to a conversion already committed, if none of its
// deliveries has been tried or is claimed, and makes them due now.
//
// Across PostgreSQL replicas this is the one place a beacon meets a
// conversion another replica may be sending, so the order of locks
// decides: the deliveries are read FOR UPDATE. A claim (Claim's FOR UPDATE
// SKIP LOCKED) that comes while this runs skips them and takes them after
// the commit, with the joined conversion; a claim committed first has set
// lease_owner, and then the beacon is not used, so the conversion goes
// once without it. lease_owner, not lease_until, tells a claimed delivery:
// it does not depend on two replicas' clocks agreeing.
func (s *Store) joinLate(tx *gormDB, eventID int64, b mapping.Beacon, now time.Time) (bool, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	var ds []struct {
		ID         int64
		Status     string
		Attempts   int
		LeaseOwner string
	}
	if err := tx.Raw(`SELECT id, status, attempts, lease_owner FROM deliveries WHERE event_id = ? AND kind = ? ORDER BY id`+lock,
		eventID, KindConversion).Scan(&ds).Error; err != nil {
		return false, fmt.Errorf("load held deliveries: %w", err)
	}
	for _, d := range ds {
		if d.Status != DeliveryPending || d.Attempts > 0 || d.LeaseOwner != "" {
			return false, nil
		}
	}
	var evs []eventRow
	if err := tx.Select("id, conversion, reason").Where("id = ?", eventID).Limit(1).Find(&evs).Error; err != nil {
		return false, fmt.Errorf("load held event: %w", err)
	}
	// An event pruned meanwhile (a short POSTBACK_RETENTION) has nothing
	// left to join.
	if len(evs) == 0 || evs[0].Conversion == "" {
		return false, nil
	}
	ev := evs[0]
	var conv mapping.Conversion
	if err := json.Unmarshal([]byte(ev.Conversion), &conv); err != nil {
		return false, fmt.Errorf("held event %d: %w", eventID, err)
	}
	cj, mj, note, quality, err := addBeacon(&conv, b)
	if err != nil {
		return false, err
	}
	if err := reindexJoined(tx, eventID, &conv, quality); err != nil {
		return false, err
	}
	if err := tx.Exec(`UPDATE events SET conversion = ?, match_info = ?, reason = ? WHERE id = ?`,
		cj, mj, joinReason(ev.Reason, note), eventID).Error; err != nil {
		return false, fmt.Errorf("join beacon: %w", err)
	}
	if err := tx.Exec(`UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE event_id = ? AND kind = ? AND status = ?`,
		ms(now), ms(now), eventID, KindConversion, DeliveryPending).Error; err != nil {
		return false, fmt.Errorf("release held deliveries: %w", err)
	}
	return true, nil
}

// addBeacon adds a beacon to a conversion and returns the conversion and
// its match as JSON, with a note for the event's reason.
func addBeacon(conv *mapping.Conversion, b mapping.Beacon) (string, string, string, int, error) {
	added := conv.AddBeacon(b)
	cj, err := json.Marshal(conv)
	if err != nil {
		return "", "", "", 0, err
	}
	match := mapping.MatchOf(*conv)
	mj, err := json.Marshal(match)
	if err != nil {
		return "", "", "", 0, err
	}
	note := "browser beacon joined"
	if len(added) > 0 {
		note += " (added " + strings.Join(added, ", ") + ")"
	}
	if b.Consent.Denied() {
		note += "; the browser refused ad_user_data, so only its consent state was used"
	}
	if len(b.Dropped) > 0 {
		note += "; beacon values dropped: " + strings.Join(b.Dropped, "; ")
	}
	return string(cj), string(mj), note, match.Quality, nil
}

// beaconJoin is a beacon found for a conversion of the batch.
type beaconJoin struct {
	id int64
}

// joinBeacons adds to each new conversion of the batch the beacon its
// browser already sent, before the events are inserted. It returns the
// beacons used, by batch index.
func joinBeacons(tx *gormDB, ps []pending, now time.Time) (map[int]beaconJoin, error) {
	refs := map[int64][]string{}
	for i := range ps {
		p := &ps[i]
		if p.conv != nil && !p.isDup() && p.conv.OrderRef != "" && p.in.UsesScript {
			refs[p.in.ShopID] = append(refs[p.in.ShopID], p.conv.OrderRef)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	found := map[shopKey]beaconRow{}
	for shop, rs := range refs {
		var rows []beaconRow
		err := tx.Where("shop_id = ? AND order_ref IN ? AND event_id = 0 AND data <> '' AND expires_at > ?",
			shop, uniqueNonEmpty(rs), ms(now)).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("look up beacons: %w", err)
		}
		for _, r := range rows {
			found[shopKey{shop, r.OrderRef}] = r
		}
	}
	return applyBeacons(ps, found)
}

// applyBeacons joins to each new conversion of the batch its beacon among
// found (unclaimed beacons with data, by shop and order ref).
func applyBeacons(ps []pending, found map[shopKey]beaconRow) (map[int]beaconJoin, error) {
	out := map[int]beaconJoin{}
	for i := range ps {
		p := &ps[i]
		if p.conv == nil || p.isDup() || p.conv.OrderRef == "" || !p.in.UsesScript {
			continue
		}
		r, ok := found[shopKey{p.in.ShopID, p.conv.OrderRef}]
		if !ok {
			continue
		}
		// Two conversions of one batch naming the same ref: the first
		// takes the beacon.
		delete(found, shopKey{p.in.ShopID, p.conv.OrderRef})
		var b mapping.Beacon
		if err := json.Unmarshal([]byte(r.Data), &b); err != nil {
			return nil, fmt.Errorf("beacon %d: %w", r.ID, err)
		}
		conv := *p.conv
		cj, mj, note, quality, err := addBeacon(&conv, b)
		if err != nil {
			return nil, err
		}
		// The joined conversion is what is stored, and what the search
		// index reads its click ids and match band from.
		p.row.Conversion, p.row.MatchInfo, p.conv, p.quality = cj, mj, &conv, quality
		p.row.Reason = joinReason(p.row.Reason, note)
		out[i] = beaconJoin{id: r.ID}
	}
	return out, nil
}

// holdForBeacons runs once the batch's events and deliveries are in: it
// marks the beacons used as joined, and for each conversion of a shop that
// uses the script (Incoming.BeaconHold > 0) whose beacon has not come, it
// records that the conversion waits and moves its deliveries to
// received + hold. A beacon arriving meanwhile releases them (SaveBeacon).
func holdForBeacons(tx *gormDB, ps []pending, joined map[int]beaconJoin) error {
	for i := range ps {
		p := &ps[i]
		if p.conv == nil || p.isDup() || p.conv.OrderRef == "" {
			continue
		}
		if j, ok := joined[i]; ok {
			if err := tx.Exec(`UPDATE beacons SET event_id = ?, outcome = ? WHERE id = ? AND event_id = 0`,
				p.row.ID, BeaconJoined, j.id).Error; err != nil {
				return fmt.Errorf("claim beacon: %w", err)
			}
			continue
		}
		hold := p.in.BeaconHold
		if hold <= 0 || len(p.dests) == 0 {
			continue
		}
		received := fromMS(p.row.ReceivedAt)
		ins := tx.Exec(`INSERT INTO beacons (shop_id, order_ref, data, received_at, event_id, outcome, expires_at)
			VALUES (?, ?, '', 0, ?, '', ?) ON CONFLICT DO NOTHING`,
			p.in.ShopID, p.conv.OrderRef, p.row.ID, ms(received.Add(BeaconTTL)))
		if ins.Error != nil {
			return fmt.Errorf("hold for beacon: %w", ins.Error)
		}
		if ins.RowsAffected == 0 {
			// The ref is taken: a beacon that another replica committed
			// after joinBeacons looked (PostgreSQL's ON CONFLICT waited for
			// it), joined now; or an earlier order's: send without waiting.
			if err := joinAtConflict(tx, p, received); err != nil {
				return err
			}
			continue
		}
		if err := tx.Exec(`UPDATE deliveries SET next_attempt_at = ? WHERE event_id = ? AND kind = ?`,
			ms(received.Add(hold)), p.row.ID, KindConversion).Error; err != nil {
			return fmt.Errorf("hold deliveries: %w", err)
		}
	}
	return nil
}

// joinAtConflict joins to a conversion being committed the beacon that
// took its order's ref since joinBeacons looked, if that beacon is still
// unclaimed; the deliveries are due at once either way.
func joinAtConflict(tx *gormDB, p *pending, received time.Time) error {
	var rows []beaconRow
	if err := tx.Where("shop_id = ? AND order_ref = ? AND event_id = 0 AND data <> '' AND expires_at > ?",
		p.in.ShopID, p.conv.OrderRef, ms(received)).Limit(1).Find(&rows).Error; err != nil {
		return fmt.Errorf("look up beacon: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	r := rows[0]
	took := tx.Exec(`UPDATE beacons SET event_id = ?, outcome = ? WHERE id = ? AND event_id = 0`, p.row.ID, BeaconJoined, r.ID)
	if took.Error != nil {
		return fmt.Errorf("claim beacon: %w", took.Error)
	}
	if took.RowsAffected == 0 {
		return nil
	}
	var b mapping.Beacon
	if err := json.Unmarshal([]byte(r.Data), &b); err != nil {
		return fmt.Errorf("beacon %d: %w", r.ID, err)
	}
	conv := *p.conv
	cj, mj, note, quality, err := addBeacon(&conv, b)
	if err != nil {
		return err
	}
	if err := reindexJoined(tx, p.row.ID, &conv, quality); err != nil {
		return err
	}
	p.row.Conversion, p.row.MatchInfo, p.conv, p.quality = cj, mj, &conv, quality
	p.row.Reason = joinReason(p.row.Reason, note)
	if err := tx.Exec(`UPDATE events SET conversion = ?, match_info = ?, reason = ? WHERE id = ?`,
		cj, mj, p.row.Reason, p.row.ID).Error; err != nil {
		return fmt.Errorf("join beacon: %w", err)
	}
	return nil
}

// PurgeBeacons deletes beacons (and waits for beacons) past their expiry.
func (s *Store) PurgeBeacons(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *gormDB) error {
		res := tx.Exec(`DELETE FROM beacons WHERE expires_at <= ?`, ms(now))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("purge beacons: %w", err)
	}
	return n, nil
}

// Beacon returns the beacon row of a shop's order, for tests and the UI.
func (s *Store) Beacon(ctx context.Context, shopID int64, orderRef string) (mapping.Beacon, BeaconResult, error) {
	var r beaconRow
	if err := s.rdb.WithContext(ctx).Where("shop_id = ? AND order_ref = ?", shopID, orderRef).First(&r).Error; err != nil {
		return mapping.Beacon{}, BeaconResult{}, notFound(err)
	}
	var b mapping.Beacon
	if r.Data != "" {
		if err := json.Unmarshal([]byte(r.Data), &b); err != nil {
			return mapping.Beacon{}, BeaconResult{}, err
		}
	}
	return b, BeaconResult{Outcome: r.Outcome, EventID: r.EventID}, nil
}
