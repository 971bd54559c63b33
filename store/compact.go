package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Body codecs of events.body_codec.
const (
	codecRaw  = 0 // as received, not looked at yet
	codecZstd = 1 // zstd-compressed in place
	codecKept = 2 // looked at, left as received (small or incompressible)
	codecS2   = 3 // S2-compressed as received, recompressed with zstd once finished
)

// zstd coders are safe for concurrent use with EncodeAll/DecodeAll.
var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	zdec    = sync.OnceValue(func() *zstd.Decoder {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		return d
	})
)

func unzstd(b []byte) ([]byte, error) {
	out, err := zdec().DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return out, nil
}

// packedText is what a finished delivery or attempt keeps, compressed, in
// its packed column once its text columns are emptied.
type packedText struct {
	Request  string `json:"q,omitempty"`
	Response string `json:"r,omitempty"`
}

func pack(request, response string) []byte {
	j, _ := json.Marshal(packedText{Request: request, Response: response})
	return zenc.EncodeAll(j, nil)
}

// unpack returns the request (payload) and response a packed column holds.
func unpack(b []byte) (string, string, error) {
	j, err := unzstd(b)
	if err != nil {
		return "", "", err
	}
	var p packedText
	if err := json.Unmarshal(j, &p); err != nil {
		return "", "", fmt.Errorf("packed text: %w", err)
	}
	return p.Request, p.Response, nil
}

// packBody compresses a webhook body as it is stored, in the handler's
// goroutine before the single writer: S2 (klauspost/compress/s2) costs a
// quarter of zstd's fastest level on a 4 KB order (5 µs against 19 µs on
// this host) for about 2× instead of 2.5×. The compactor recompresses a
// finished event's body with zstd in the background, where the CPU is not
// on a webhook's path.
func packBody(b []byte) ([]byte, int) {
	if len(b) < 512 {
		return b, codecKept
	}
	z := s2.Encode(make([]byte, s2.MaxEncodedLen(len(b))), b)
	if len(z) > len(b)*9/10 {
		return b, codecKept
	}
	return z, codecS2
}

// bodyOf returns an event's raw body as received.
func bodyOf(body []byte, codec int) ([]byte, error) {
	switch codec {
	case codecZstd:
		return unzstd(body)
	case codecS2:
		out, err := s2.Decode(nil, body)
		if err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
		return out, nil
	}
	return body, nil
}

// EventIDsAfter lists up to limit event ids above after, lowest first, up
// to the highest id of the last 100 events received before
// receivedBefore, for a background walk over every event (the
// compactor's). Ids and receipt times are in nearly the same order; an
// event received later with an id below that bound comes with the rest
// rather than being skipped for good.
//
// The walk's end is found on events_received, and the walk is a range of
// the primary key. Filtering the walk by receipt time instead read every
// recent event each time the walk had caught up: every 5 s, the tail of
// the table, by every replica (sampled on PostgreSQL during the load
// command's run: one backend busy with it a tenth of the time).
func (s *Store) EventIDsAfter(ctx context.Context, after int64, receivedBefore time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.rdb.WithContext(s.rctx(ctx)).Raw(`SELECT id FROM events WHERE id > ? AND id <= (SELECT MAX(r.id) FROM (
			SELECT e.id FROM events e WHERE e.received_at < ? ORDER BY e.received_at DESC LIMIT 100) r)
		ORDER BY id LIMIT ?`,
		after, ms(receivedBefore), limit).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return ids, nil
}

// CompactEvents compresses what finished events among ids keep for the
// record: the raw body, and the payloads and responses of their finished
// deliveries and attempts. An event is finished when none of its
// deliveries is pending or retrying; those that are not come back in
// busy, to be tried again later. Compression runs outside the write lock;
// the writes check that nothing changed since the read, so a delivery
// sent again meanwhile keeps its new text. It is not on the webhook path:
// the caller paces it.
func (s *Store) CompactEvents(ctx context.Context, ids []int64) (compacted int, busy []int64, err error) {
	if len(ids) == 0 {
		return 0, nil, nil
	}
	db := s.rdb.WithContext(s.rctx(ctx))
	if err := db.Raw(`SELECT DISTINCT event_id FROM deliveries WHERE event_id IN ? AND status IN ?`,
		padIDs(ids), []string{DeliveryPending, DeliveryRetrying}).Scan(&busy).Error; err != nil {
		return 0, nil, fmt.Errorf("compact: %w", err)
	}
	isBusy := map[int64]bool{}
	for _, id := range busy {
		isBusy[id] = true
	}
	var done []int64
	for _, id := range ids {
		if !isBusy[id] {
			done = append(done, id)
		}
	}
	if len(done) == 0 {
		return 0, busy, nil
	}
	var bodies []struct {
		ID        int64
		Body      []byte
		BodyCodec int
	}
	if err := db.Raw(`SELECT id, body, body_codec FROM events WHERE id IN ? AND body_codec IN (?, ?)`, padIDs(done), codecRaw, codecS2).Scan(&bodies).Error; err != nil {
		return 0, nil, fmt.Errorf("compact: read bodies: %w", err)
	}
	var dels []struct {
		ID       int64
		Payload  string
		Response string
	}
	if err := db.Raw(`SELECT id, payload, response FROM deliveries WHERE event_id IN ? AND status IN ? AND (payload <> '' OR response <> '')`,
		padIDs(done), []string{DeliveryDelivered, DeliveryFailed, DeliverySkipped}).Scan(&dels).Error; err != nil {
		return 0, nil, fmt.Errorf("compact: read deliveries: %w", err)
	}
	var atts []struct {
		ID       int64
		Request  string
		Response string
	}
	if err := db.Raw(`SELECT a.id, a.request, a.response FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.event_id IN ? AND d.status IN ? AND a.packed IS NULL AND (a.request <> '' OR a.response <> '')`,
		padIDs(done), []string{DeliveryDelivered, DeliveryFailed, DeliverySkipped}).Scan(&atts).Error; err != nil {
		return 0, nil, fmt.Errorf("compact: read attempts: %w", err)
	}
	type bodyUpdate struct {
		id    int64
		body  []byte
		codec int
		was   int
	}
	bups := make([]bodyUpdate, 0, len(bodies))
	for _, b := range bodies {
		raw, err := bodyOf(b.Body, b.BodyCodec)
		if err != nil {
			return 0, nil, fmt.Errorf("compact: event %d: %w", b.ID, err)
		}
		z := zenc.EncodeAll(raw, nil)
		switch {
		case len(raw) >= 128 && len(z) <= len(raw)*9/10 && len(z) < len(b.Body):
			bups = append(bups, bodyUpdate{b.ID, z, codecZstd, b.BodyCodec})
		case b.BodyCodec == codecS2:
			// Already smaller as S2 than zstd would make it: keep it.
		default:
			bups = append(bups, bodyUpdate{b.ID, nil, codecKept, b.BodyCodec})
		}
	}
	dpacked := make([][]byte, len(dels))
	for i, d := range dels {
		dpacked[i] = pack(d.Payload, d.Response)
	}
	apacked := make([][]byte, len(atts))
	for i, a := range atts {
		apacked[i] = pack(a.Request, a.Response)
	}
	if len(bups) == 0 && len(dels) == 0 && len(atts) == 0 {
		return len(done), busy, nil
	}
	err = s.write(ctx, func(tx *gormDB) error {
		for _, u := range bups {
			var err error
			if u.codec == codecKept {
				err = tx.Exec(`UPDATE events SET body_codec = ? WHERE id = ? AND body_codec = ?`, u.codec, u.id, u.was).Error
			} else {
				err = tx.Exec(`UPDATE events SET body = ?, body_codec = ? WHERE id = ? AND body_codec = ?`, u.body, u.codec, u.id, u.was).Error
			}
			if err != nil {
				return err
			}
		}
		for i, d := range dels {
			if err := tx.Exec(`UPDATE deliveries SET packed = ?, payload = '', response = '' WHERE id = ? AND status IN (?, ?, ?) AND payload = ? AND response = ?`,
				dpacked[i], d.ID, DeliveryDelivered, DeliveryFailed, DeliverySkipped, d.Payload, d.Response).Error; err != nil {
				return err
			}
		}
		for i, a := range atts {
			if err := tx.Exec(`UPDATE delivery_attempts SET packed = ?, request = '', response = '' WHERE id = ? AND packed IS NULL`,
				apacked[i], a.ID).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("compact: %w", err)
	}
	return len(done), busy, nil
}

// unpackAttempts fills in the request and response of compacted attempts.
func unpackAttempts(db *gormDB, deliveryIDs []int64, arows []attemptRow) error {
	var packed []struct {
		ID     int64
		Packed []byte
	}
	if err := db.Raw(`SELECT id, packed FROM delivery_attempts WHERE delivery_id IN ? AND packed IS NOT NULL`, deliveryIDs).Scan(&packed).Error; err != nil {
		return err
	}
	byID := make(map[int64][]byte, len(packed))
	for _, p := range packed {
		byID[p.ID] = p.Packed
	}
	for i := range arows {
		a := &arows[i]
		if b, ok := byID[a.ID]; ok && a.Request == "" && a.Response == "" {
			var err error
			if a.Request, a.Response, err = unpack(b); err != nil {
				return fmt.Errorf("attempt %d: %w", a.ID, err)
			}
		}
	}
	return nil
}

// StoredSizes is what one event keeps on disk, in bytes of its columns.
type StoredSizes struct {
	Body, Payload, Packed int
}

// StoredSizes measures an event's stored body and its deliveries'
// payloads, raw and packed (tests and the load command).
func (s *Store) StoredSizes(ctx context.Context, eventID int64) (StoredSizes, error) {
	var out StoredSizes
	err := s.rdb.WithContext(ctx).Raw(`SELECT COALESCE(LENGTH(body), 0) AS body,
		(SELECT COALESCE(SUM(LENGTH(payload) + LENGTH(response)), 0) FROM deliveries WHERE event_id = e.id) AS payload,
		(SELECT COALESCE(SUM(LENGTH(packed)), 0) FROM deliveries WHERE event_id = e.id) AS packed
		FROM events e WHERE id = ?`, eventID).Scan(&out).Error
	return out, err
}
