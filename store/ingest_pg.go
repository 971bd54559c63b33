package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// pgUseIndexes makes a PostgreSQL transaction's key look-ups go through
// the keys' indexes, whatever the table's statistics say. A prepared
// statement's generic plan is kept until its table is analyzed, and one
// planned while the key tables were small (a fresh database, before
// autovacuum's first analyze) scanned each whole table in every batch, so
// ingest slowed as the tables grew (a load run: 1,390 scans reading 8.7
// million rows for 14,000 webhooks). The ingest transaction's other
// statements read only arrays (unnest). Forcing custom plans instead cost
// more in planning than it saved.
const pgUseIndexes = "SET LOCAL enable_seqscan = off"

// commitPendingPG is commitPending on PostgreSQL: the same decisions (the
// Go helpers are shared with the SQLite path, so both databases give the
// same answers), with the statements pipelined through the pgx connection
// under database/sql. A batch costs three round trips however large it
// is, where one statement at a time cost a dozen or more:
//
//  1. BEGIN, the batch's shops and enabled destinations (locked against
//     deletion), the delivery and order keys already held, the beacons
//     waiting, and one event id per item (nextval);
//  2. the events (with those ids, so nothing waits for RETURNING), the
//     replay counts, the search queue, the key claims (ON CONFLICT DO
//     NOTHING RETURNING, which tells who won a race with another replica)
//     and the deliveries;
//  3. undoing what an item that lost a race claimed (rare), and COMMIT.
//
// Rare work (refunds, beacon holds, origins of reconciled events) runs
// between 2 and 3 through gorm on the same connection, with statements of
// its own only when there is something to do. Array parameters (unnest)
// keep every statement's text the same whatever the batch size, so pgx
// prepares each once per connection.
func (s *Store) commitPendingPG(ctx context.Context, ps []pending, routing Routing) (err error) {
	conn, err := s.pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	pg := func(f func(c *pgx.Conn) error) error {
		return conn.Raw(func(dc any) error {
			sc, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("postgres driver connection is %T, not pgx", dc)
			}
			return f(sc.Conn())
		})
	}
	begun := false
	defer func() {
		if err == nil || !begun {
			return
		}
		// Roll back on the same connection; one that cannot is closed
		// rather than pooled with a transaction open.
		_ = pg(func(c *pgx.Conn) error {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if c.IsClosed() {
				return driver.ErrBadConn
			}
			if _, rerr := c.Exec(rctx, "ROLLBACK"); rerr != nil || c.PgConn().TxStatus() != 'I' {
				return driver.ErrBadConn
			}
			return nil
		})
	}()

	// 1. Look-ups. Keys are looked up for every item that may claim them;
	// markDups then consults only the keys each item claims once the
	// items before it are decided, exactly as dedupe does.
	var (
		rows  []destinationInfo
		held  = map[string]map[shopKey]int64{}
		found = map[shopKey]beaconRow{}
		ids   []int64
		shops = shopsOf(ps)
		live  = make(map[int64]bool, len(shops))
	)
	beaconRefs := map[shopKey]bool{}
	for i := range ps {
		p := &ps[i]
		if p.conv != nil && p.conv.OrderRef != "" && p.in.UsesScript {
			beaconRefs[shopKey{p.in.ShopID, p.conv.OrderRef}] = true
		}
	}
	begun = true
	err = pg(func(c *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(pgUseIndexes)
		// The batch's shops and destinations are locked against deletion
		// (FOR KEY SHARE, as a foreign key check would lock them, but
		// once per batch instead of once per row; see migration 00018):
		// a shop or destination deleted meanwhile is deleted after this
		// commit, with what it committed, or before, and then this batch
		// does not see it. Shops first, in id order, as a shop's deletion
		// takes them (its destinations go in its cascade).
		b.Queue(`SELECT id FROM shops WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, shops).Query(func(r pgx.Rows) error {
			var id int64
			return scanEach(r, func() error {
				if err := r.Scan(&id); err != nil {
					return err
				}
				live[id] = true
				return nil
			}, "lock shops")
		})
		b.Queue(`SELECT id, shop_id, platform, settings FROM destinations WHERE shop_id = ANY($1) AND enabled ORDER BY id FOR KEY SHARE`,
			shops).Query(func(r pgx.Rows) error {
			var d destinationInfo
			return scanEach(r, func() error {
				if err := r.Scan(&d.ID, &d.ShopID, &d.Platform, &d.Settings); err != nil {
					return err
				}
				rows = append(rows, d)
				return nil
			}, "load destinations")
		})
		lookUp := func(table, column string, keysOf func(*pending) []string) {
			shops, keys := keyArrays(ps, keysOf)
			h := map[shopKey]int64{}
			held[table] = h
			if len(keys) == 0 {
				return
			}
			b.Queue(`SELECT t.shop_id, t.`+column+`, t.event_id FROM unnest($1::bigint[], $2::text[]) AS k(shop_id, key)
				JOIN `+table+` t ON t.shop_id = k.shop_id AND t.`+column+` = k.key`, shops, keys).Query(func(r pgx.Rows) error {
				var k shopKey
				var id int64
				return scanEach(r, func() error {
					if err := r.Scan(&k.shop, &k.key, &id); err != nil {
						return err
					}
					h[k] = id
					return nil
				}, "look up "+table)
			})
		}
		lookUp("webhook_deliveries", "delivery_id", deliveryKeysOf)
		lookUp("order_conversions", "order_id", func(p *pending) []string {
			if p.conv == nil {
				return nil
			}
			return p.orders
		})
		if len(beaconRefs) > 0 {
			var shops []int64
			var refs []string
			for k := range beaconRefs {
				shops, refs = append(shops, k.shop), append(refs, k.key)
			}
			b.Queue(`SELECT b.id, b.shop_id, b.order_ref, b.data FROM unnest($1::bigint[], $2::text[]) AS k(shop_id, ref)
				JOIN beacons b ON b.shop_id = k.shop_id AND b.order_ref = k.ref
				WHERE b.event_id = 0 AND b.data <> '' AND b.expires_at > $3`, shops, refs, ms(ps[0].in.ReceivedAt)).Query(func(r pgx.Rows) error {
				return scanEach(r, func() error {
					var br beaconRow
					if err := r.Scan(&br.ID, &br.ShopID, &br.OrderRef, &br.Data); err != nil {
						return err
					}
					found[shopKey{br.ShopID, br.OrderRef}] = br
					return nil
				}, "look up beacons")
			})
		}
		// Ids for the events, taken now so that the inserts below need no
		// answer; an id a replay does not use is a gap, as a rolled back
		// insert leaves. Sorted, they go to the items in order, so ids
		// increase in row order as with RETURNING.
		b.Queue(`SELECT nextval('events_id_seq') FROM generate_series(1, $1)`, len(ps)).Query(func(r pgx.Rows) error {
			var id int64
			return scanEach(r, func() error {
				if err := r.Scan(&id); err != nil {
					return err
				}
				ids = append(ids, id)
				return nil
			}, "take event ids")
		})
		return c.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	for _, id := range shops {
		if !live[id] {
			// The committer retries the batch one webhook at a time, so
			// only this shop's webhooks fail.
			return fmt.Errorf("shop %d: %w", id, ErrNotFound)
		}
	}
	dests, err := destinationsByShop(rows)
	if err != nil {
		return err
	}
	markDups(ps, held["webhook_deliveries"], deliveryKeysOf, whyDelivery, true)
	markDups(ps, held["order_conversions"], orderKeysOf, whyOrder, false)
	decideReplays(ps)
	for i := range ps {
		ps[i].route(dests[ps[i].in.ShopID], routing)
	}
	var joined map[int]beaconJoin
	if len(beaconRefs) > 0 {
		if joined, err = applyBeacons(ps, found); err != nil {
			return err
		}
	}
	if len(ids) != len(ps) {
		return fmt.Errorf("take event ids: %d ids for %d events", len(ids), len(ps))
	}
	slices.Sort(ids)
	stored := assignEventIDs(ps, ids)

	// 2. Writes.
	origs, count, last := replayCounts(ps)
	deliveries, orders := claimKeyLists(ps)
	wonDelivery, wonOrder := map[int64]int{}, map[int64]int{}
	err = pg(func(c *pgx.Conn) error {
		b := &pgx.Batch{}
		if len(stored) > 0 {
			ev := eventArrays(ps, stored)
			b.Queue(`INSERT INTO events (id, `+eventColumns+`)
				SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
					$9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bool[],
					$18::text[], $19::text[], $20::text[], $21::bytea[], $22::smallint[])`,
				ev.id, ev.shop, ev.source, ev.topic, ev.kind, ev.delivery, ev.order, ev.status, ev.reason, ev.dupOf, ev.received,
				ev.occurred, ev.value, ev.currency, ev.eventName, ev.convEventID, ev.test, ev.conversion, ev.refunds, ev.matchInfo,
				ev.body, ev.codec).Exec(func(ct pgconn.CommandTag) error {
				if n := ct.RowsAffected(); n != int64(len(stored)) {
					return fmt.Errorf("insert events: %d rows for %d events", n, len(stored))
				}
				return nil
			})
		}
		// In id order, so that replicas updating the same events queue
		// instead of deadlocking.
		for _, id := range origs {
			b.Queue(`UPDATE events SET duplicates = duplicates + $1,
				last_duplicate_at = CASE WHEN last_duplicate_at > $2 THEN last_duplicate_at ELSE $2 END WHERE id = $3`,
				count[id], last[id], id)
		}
		if len(stored) > 0 {
			queued, terms := make([]int64, len(stored)), make([]string, len(stored))
			for i, j := range stored {
				queued[i], terms[i] = ps[j].row.ID, ps[j].searchTerms()
			}
			b.Queue(`INSERT INTO search_queue (event_id, terms) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`, queued, terms)
		}
		claim := func(sql string, keys []claimKey, won map[int64]int, args ...any) {
			if len(keys) == 0 {
				return
			}
			shops, ks, evs := make([]int64, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
			for i, k := range keys {
				shops[i], ks[i], evs[i] = k.shop, k.key, k.eventID
			}
			b.Queue(sql, append([]any{shops, ks, evs}, args...)...).Query(func(r pgx.Rows) error {
				var id int64
				return scanEach(r, func() error {
					if err := r.Scan(&id); err != nil {
						return err
					}
					won[id]++
					return nil
				}, "claim keys")
			})
		}
		// WITH ORDINALITY … ORDER BY: rows go in in the keys' order.
		claim(`INSERT INTO webhook_deliveries (shop_id, delivery_id, event_id)
			SELECT s, k, e FROM unnest($1::bigint[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(s, k, e, n) ORDER BY n
			ON CONFLICT DO NOTHING RETURNING event_id`, deliveries, wonDelivery)
		claim(`INSERT INTO order_conversions (shop_id, order_id, event_id, created_at)
			SELECT s, k, e, $4 FROM unnest($1::bigint[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(s, k, e, n) ORDER BY n
			ON CONFLICT DO NOTHING RETURNING event_id`, orders, wonOrder, ms(time.Now()))
		// Deliveries of every routed item; an item that loses a claim
		// race has its deliveries removed in step 3.
		if rows := deliveryInserts(ps); len(rows) > 0 {
			var evs, dsts, shops, nows, expires []int64
			var platforms []string
			for _, r := range rows {
				now, exp := r.times(routing)
				evs, dsts, shops = append(evs, r.p.row.ID), append(dsts, r.d.ID), append(shops, r.d.ShopID)
				platforms, nows, expires = append(platforms, r.d.Platform), append(nows, now), append(expires, exp)
			}
			b.Queue(`INSERT INTO deliveries (event_id, destination_id, shop_id, platform, kind, refund_id, status,
				next_attempt_at, expires_at, created_at, updated_at)
				SELECT e, d, s, p, $7, 0, $8, n, x, n, n FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[])
					AS u(e, d, s, p, n, x)`, evs, dsts, shops, platforms, nows, expires, KindConversion, DeliveryPending)
		}
		if b.Len() == 0 {
			return nil
		}
		return c.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return err
	}
	lost := settleClaims(ps, wonDelivery, wonOrder)
	noteQueued(ps)

	// Rare work, through gorm on this connection (in the transaction):
	// each step issues statements only when it has something to do.
	gtx := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
	gtx.Statement.ConnPool = conn
	if err := applyOrigins(gtx, ps); err != nil {
		return err
	}
	if err := holdForBeacons(gtx, ps, joined); err != nil {
		return err
	}
	if err := s.commitRefunds(gtx, ps, dests, routing); err != nil {
		return err
	}

	// 3. Undo the claims of race losers, and commit.
	return pg(func(c *pgx.Conn) error {
		b := &pgx.Batch{}
		for _, i := range lost {
			p := &ps[i]
			b.Queue(`DELETE FROM order_conversions WHERE shop_id = $1 AND event_id = $2`, p.in.ShopID, p.row.ID)
			b.Queue(`DELETE FROM webhook_deliveries WHERE shop_id = $1 AND event_id = $2`, p.in.ShopID, p.row.ID)
			b.Queue(`DELETE FROM deliveries WHERE event_id = $1`, p.row.ID)
			b.Queue(`UPDATE events SET status = $1, reason = $2, conversion = '', match_info = '', value = '', currency = '',
				event_name = '', conversion_event_id = '' WHERE id = $3`, StatusDuplicate, p.res.Reason, p.row.ID)
		}
		var tag string
		b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
			tag = ct.String()
			return nil
		})
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		// COMMIT of a transaction that failed answers ROLLBACK.
		if tag != "COMMIT" {
			return fmt.Errorf("commit: transaction rolled back (%s)", tag)
		}
		begun = false
		return nil
	})
}

// assignEventIDs gives the items that are stored (all but replays) their
// ids in order, and answers them; a duplicate of an earlier item of the
// batch names its original's id at once (commitPending's insertEvents
// learns it from RETURNING and updates the row after). It returns the
// indexes of the stored items.
func assignEventIDs(ps []pending, ids []int64) []int {
	stored := make([]int, 0, len(ps))
	for i := range ps {
		if ps[i].replay {
			continue
		}
		p := &ps[i]
		p.row.ID = ids[len(stored)]
		p.res = Committed{EventID: p.row.ID, Status: p.row.Status, Reason: p.row.Reason}
		stored = append(stored, i)
	}
	for _, i := range stored {
		p := &ps[i]
		if p.dupOfItem == 0 {
			continue
		}
		orig := ps[p.dupOfItem-1].row.ID
		p.res.Reason = fmt.Sprintf("%s (event %d)", p.res.Reason, orig)
		p.row.DuplicateOf, p.row.Reason = orig, p.res.Reason
	}
	return stored
}

// eventCols holds the stored events' columns as arrays, for unnest.
type eventCols struct {
	id, shop, dupOf, received, occurred                                              []int64
	source, topic, kind, delivery, order, status, reason, value, currency, eventName []string
	convEventID, conversion, refunds, matchInfo                                      []string
	test                                                                             []bool
	body                                                                             [][]byte
	codec                                                                            []int16
}

func eventArrays(ps []pending, stored []int) eventCols {
	n := len(stored)
	var e eventCols
	i64 := func() []int64 { return make([]int64, 0, n) }
	str := func() []string { return make([]string, 0, n) }
	e.id, e.shop, e.dupOf, e.received, e.occurred = i64(), i64(), i64(), i64(), i64()
	e.source, e.topic, e.kind, e.delivery, e.order, e.status, e.reason = str(), str(), str(), str(), str(), str(), str()
	e.value, e.currency, e.eventName, e.convEventID, e.conversion, e.refunds, e.matchInfo = str(), str(), str(), str(), str(), str(), str()
	e.test, e.body, e.codec = make([]bool, 0, n), make([][]byte, 0, n), make([]int16, 0, n)
	for _, j := range stored {
		r := &ps[j].row
		e.id, e.shop, e.dupOf = append(e.id, r.ID), append(e.shop, r.ShopID), append(e.dupOf, r.DuplicateOf)
		e.received, e.occurred = append(e.received, r.ReceivedAt), append(e.occurred, r.OccurredAt)
		e.source, e.topic, e.kind = append(e.source, r.Source), append(e.topic, r.Topic), append(e.kind, r.Kind)
		e.delivery, e.order = append(e.delivery, r.DeliveryID), append(e.order, r.OrderID)
		e.status, e.reason = append(e.status, r.Status), append(e.reason, r.Reason)
		e.value, e.currency, e.eventName = append(e.value, r.Value), append(e.currency, r.Currency), append(e.eventName, r.EventName)
		e.convEventID, e.conversion = append(e.convEventID, r.ConversionEventID), append(e.conversion, r.Conversion)
		e.refunds, e.matchInfo = append(e.refunds, r.Refunds), append(e.matchInfo, r.MatchInfo)
		e.test, e.body, e.codec = append(e.test, r.Test), append(e.body, r.Body), append(e.codec, int16(r.BodyCodec))
	}
	return e
}

// keyArrays lists each shop's keys (as keysOf gives them) once, as the
// two arrays of a (shop_id, key) unnest.
func keyArrays(ps []pending, keysOf func(*pending) []string) ([]int64, []string) {
	seen := map[shopKey]bool{}
	var shops []int64
	var keys []string
	for i := range ps {
		for _, k := range keysOf(&ps[i]) {
			sk := shopKey{ps[i].in.ShopID, k}
			if k == "" || seen[sk] {
				continue
			}
			seen[sk] = true
			shops, keys = append(shops, sk.shop), append(keys, k)
		}
	}
	return shops, keys
}

// scanEach runs scan for each row of r and closes it.
func scanEach(r pgx.Rows, scan func() error, what string) error {
	defer r.Close()
	for r.Next() {
		if err := scan(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
