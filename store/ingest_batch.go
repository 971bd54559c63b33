package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postbackhq/postback/mapping"
)

// pending is one webhook on its way into a batch: its event row, marshaled
// on the caller's goroutine before it reaches the single committer, and
// the dedupe keys it claims.
type pending struct {
	in   *Incoming
	row  eventRow
	conv *mapping.Conversion
	// delivery is the store's delivery id it claims ("" for none).
	delivery string
	// bodyKey, for an ignored webhook, is a digest of its topic and body,
	// claimed beside the delivery id: stores sign the body, not the
	// delivery id, so a replayed body with a fresh id is still a replay.
	bodyKey string
	// orders are the order keys a conversion claims (id and aliases).
	orders []string
	// dupOf is the event an earlier batch stored for the same delivery or
	// order; dupOfItem is 1 + the index of an earlier item of this batch.
	dupOf     int64
	dupOfItem int
	// dupByDelivery: the same delivery came before, so it brings nothing
	// new at all (not even refunds).
	dupByDelivery bool
	// replay: a duplicate that brings nothing new is not stored again; it
	// is counted on its original event (see countReplays), so a signed
	// body replayed with fresh delivery ids cannot grow storage.
	replay bool
	dests  []destinationInfo
	res    Committed
	// quality is the conversion's 0–10 match estimate, as in its
	// MatchInfo, for the search index's match band.
	quality int
}

// prepareIncoming marshals an Incoming into its event row.
func prepareIncoming(in *Incoming) (pending, error) {
	sanitizeIncoming(in)
	w := in.Webhook
	p := pending{in: in}
	ev := eventRow{
		ShopID: in.ShopID, Source: string(in.Source), Topic: in.Topic, Kind: string(w.Outcome),
		DeliveryID: w.DeliveryID, OrderID: w.OrderID, Reason: w.Reason,
		ReceivedAt: ms(in.ReceivedAt), OccurredAt: ms(w.OccurredAt), Test: w.Test, Body: in.Body,
	}
	ev.Body, ev.BodyCodec = packBody(in.Body)
	switch {
	case in.ParseError != "":
		ev.Status, ev.Reason, ev.Kind = StatusError, in.ParseError, ""
	case w.Outcome == mapping.OutcomeIgnored:
		ev.Status = StatusIgnored
	default:
		ev.Status = StatusAccepted
	}
	if ev.Status == StatusAccepted && w.Outcome == mapping.OutcomeConversion && w.Conversion != nil {
		conv := w.Conversion
		cj, err := json.Marshal(conv)
		if err != nil {
			return pending{}, err
		}
		match := mapping.MatchOf(*conv)
		mj, err := json.Marshal(match)
		if err != nil {
			return pending{}, err
		}
		p.quality = match.Quality
		ev.Conversion, ev.MatchInfo = string(cj), string(mj)
		ev.Value, ev.Currency = conv.Value.String(), conv.Currency
		ev.EventName, ev.ConversionEventID = conv.EventName, conv.EventID
		p.conv = conv
		p.orders = uniqueNonEmpty(append([]string{w.OrderID}, w.OrderAliases...))
	}
	if len(w.Refunds) > 0 {
		rj, err := json.Marshal(w.Refunds)
		if err != nil {
			return pending{}, err
		}
		ev.Refunds = string(rj)
	}
	if w.DeliveryID != "" && ev.Status != StatusError {
		p.delivery = w.DeliveryID
	}
	if ev.Status == StatusIgnored && len(in.Body) > 0 {
		h := sha256.New()
		h.Write([]byte(in.Topic))
		h.Write([]byte{0})
		h.Write(in.Body)
		p.bodyKey = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	p.row = ev
	return p, nil
}

// CommitBatch commits many webhooks in one transaction. Each is
// deduplicated against earlier deliveries and conversions, and against the
// items before it in the batch.
func (s *Store) CommitBatch(ctx context.Context, items []Incoming, routing Routing) ([]Committed, error) {
	ps := make([]pending, len(items))
	for i := range items {
		p, err := prepareIncoming(&items[i])
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return s.commitPending(ctx, ps, routing)
}

// commitPending stores a batch with a fixed number of statements however
// large it is: outcomes are decided from two look-ups, then events, dedupe
// keys and deliveries go in as multi-row inserts. That, and one fsync per
// batch, is what lets SQLite's single writer take thousands of webhooks a
// second, and it saves round trips on PostgreSQL.
func (s *Store) commitPending(ctx context.Context, ps []pending, routing Routing) ([]Committed, error) {
	if s.dialect == Postgres {
		// The same steps, pipelined: see commitPendingPG.
		if err := s.commitPendingPG(ctx, ps, routing); err != nil {
			return nil, fmt.Errorf("commit webhooks: %w", err)
		}
		return committedOf(ps), nil
	}
	err := s.write(ctx, func(tx *gormDB) error {
		dests, err := s.enabledDestinationsCached(tx, ps)
		if err != nil {
			return err
		}
		if err := dedupe(tx, ps, "webhook_deliveries", "delivery_id", deliveryKeysOf, whyDelivery, true); err != nil {
			return err
		}
		if err := dedupe(tx, ps, "order_conversions", "order_id", orderKeysOf, whyOrder, false); err != nil {
			return err
		}
		decideReplays(ps)
		for i := range ps {
			ps[i].route(dests[ps[i].in.ShopID], routing)
		}
		joined, err := joinBeacons(tx, ps, ps[0].in.ReceivedAt)
		if err != nil {
			return err
		}
		if err := insertEvents(tx, ps); err != nil {
			return err
		}
		if err := countReplays(tx, ps); err != nil {
			return err
		}
		if err := queueSearch(tx, ps); err != nil {
			return err
		}
		if err := s.claimKeys(tx, ps); err != nil {
			return err
		}
		if err := insertDeliveries(tx, ps, routing); err != nil {
			return err
		}
		if err := applyOrigins(tx, ps); err != nil {
			return err
		}
		if err := holdForBeacons(tx, ps, joined); err != nil {
			return err
		}
		return s.commitRefunds(tx, ps, dests, routing)
	})
	if err != nil {
		return nil, fmt.Errorf("commit webhooks: %w", err)
	}
	return committedOf(ps), nil
}

// committedOf lists the batch's answers, in order.
func committedOf(ps []pending) []Committed {
	out := make([]Committed, len(ps))
	for i := range ps {
		out[i] = ps[i].res
	}
	return out
}

// decideReplays marks the duplicates that bring nothing new (see
// pending.replay), once dedupe has run.
func decideReplays(ps []pending) {
	for i := range ps {
		p := &ps[i]
		// A duplicate delivery brings nothing; a duplicate order brings
		// nothing unless it reports refunds (WooCommerce sends the whole
		// order on every change), which commitRefunds weighs.
		p.replay = p.isDup() && (p.dupByDelivery || len(p.in.Webhook.Refunds) == 0)
	}
}

// deliveryKeysOf and orderKeysOf are the keys an item claims in
// webhook_deliveries and order_conversions, as dedupe looks them up.
func deliveryKeysOf(p *pending) []string {
	if p.bodyKey != "" {
		return uniqueNonEmpty([]string{p.delivery, p.bodyKey})
	}
	if p.delivery == "" {
		return nil
	}
	return []string{p.delivery}
}

func orderKeysOf(p *pending) []string {
	if p.conv == nil || p.isDup() {
		return nil
	}
	return p.orders
}

const (
	whyDelivery = "delivery %s was already received"
	whyOrder    = "order %s was already converted"
)

// cleanText makes a string from outside storable as text on both
// databases: invalid UTF-8 and NUL bytes become U+FFFD. PostgreSQL
// rejects either in a text column (SQLSTATE 22021) where SQLite stores
// them, so without this the same webhook was answered 200 on one and 503
// (retried forever) on the other. The mapping is deterministic, so a
// header that repeats still deduplicates.
func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// sanitizeIncoming cleans every text an Incoming stores in a column of
// its own (header values such as topic and webhook id, keys, reasons).
// What goes in as JSON needs nothing: encoding/json already writes
// invalid UTF-8 as U+FFFD and NUL as \u0000. Shared values (the
// conversion, the refunds) are copied before they change.
func sanitizeIncoming(in *Incoming) {
	w := &in.Webhook
	in.Topic, in.ParseError = cleanText(in.Topic), cleanText(in.ParseError)
	w.Topic, w.DeliveryID, w.OrderID, w.Reason = cleanText(w.Topic), cleanText(w.DeliveryID), cleanText(w.OrderID), cleanText(w.Reason)
	if len(w.OrderAliases) > 0 {
		aliases := make([]string, len(w.OrderAliases))
		for i, a := range w.OrderAliases {
			aliases[i] = cleanText(a)
		}
		w.OrderAliases = aliases
	}
	if c := w.Conversion; c != nil && (cleanText(c.EventID) != c.EventID || cleanText(c.EventName) != c.EventName || cleanText(c.Currency) != c.Currency) {
		cc := *c
		cc.EventID, cc.EventName, cc.Currency = cleanText(c.EventID), cleanText(c.EventName), cleanText(c.Currency)
		w.Conversion = &cc
	}
	if len(w.Refunds) > 0 {
		refunds := make([]mapping.Refund, len(w.Refunds))
		for i, r := range w.Refunds {
			r.OrderID, r.RefundID, r.Currency, r.Reason = cleanText(r.OrderID), cleanText(r.RefundID), cleanText(r.Currency), cleanText(r.Reason)
			refunds[i] = r
		}
		w.Refunds = refunds
	}
}

func (p *pending) isDup() bool { return p.dupOf != 0 || p.dupOfItem != 0 }

// markDup turns the pending event into a duplicate before it is inserted.
func (p *pending) markDup(why string) {
	p.row.Status, p.row.Reason = StatusDuplicate, why
	p.row.Conversion, p.row.MatchInfo, p.row.Value, p.row.Currency = "", "", "", ""
	p.row.EventName, p.row.ConversionEventID = "", ""
}

// route picks the destinations of a conversion that is not a duplicate.
func (p *pending) route(dests []destinationInfo, routing Routing) {
	if p.conv == nil || p.isDup() {
		return
	}
	for _, d := range dests {
		if routing.Accepts(d.Platform, d.settings, p.conv.Test) {
			p.dests = append(p.dests, d)
		}
	}
	if len(p.dests) == 0 && len(dests) > 0 && p.conv.Test {
		p.row.Reason = joinReason(p.row.Reason, "test order: no destination is in test mode")
	}
}

func enabledDestinations(tx *gormDB, ps []pending) (map[int64][]destinationInfo, error) {
	return queryEnabledDestinations(tx, shopsOf(ps))
}

func queryEnabledDestinations(tx *gormDB, shops []int64) (map[int64][]destinationInfo, error) {
	var rows []destinationInfo
	err := tx.Table("destinations").Select("id, shop_id, platform, settings").
		Where("shop_id IN ? AND enabled = ?", shops, true).Order("id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load destinations: %w", err)
	}
	return destinationsByShop(rows)
}

// destCache keeps, on SQLite, each shop's enabled destinations for the
// webhook path, which otherwise read them in every batch (a fifth of the
// single writer's time in a batch). SQLite has one process and one
// writer, so the cache is exact: it is read and filled under the writer
// lock, and every write that changes a destination's shop, platform,
// settings or enabled flag (create, update, delete, deleting a shop)
// empties it under the same lock. PostgreSQL replicas change
// destinations behind each other's backs, so there it is not used.
type destCache struct {
	byShop map[int64][]destinationInfo
}

// enabledDestinationsCached is enabledDestinations through s.dcache; tx
// must be s's SQLite writer, with s.wmu held.
func (s *Store) enabledDestinationsCached(tx *gormDB, ps []pending) (map[int64][]destinationInfo, error) {
	if s.dialect != SQLite {
		return enabledDestinations(tx, ps)
	}
	if s.dcache.byShop == nil {
		s.dcache.byShop = map[int64][]destinationInfo{}
	}
	out := map[int64][]destinationInfo{}
	var missing []int64
	for _, shop := range shopsOf(ps) {
		if ds, ok := s.dcache.byShop[shop]; ok {
			out[shop] = ds
		} else {
			missing = append(missing, shop)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := queryEnabledDestinations(tx, missing)
	if err != nil {
		return nil, err
	}
	for _, shop := range missing {
		out[shop] = got[shop]
		if len(s.dcache.byShop) < maxCachedShops {
			s.dcache.byShop[shop] = got[shop]
		}
	}
	return out, nil
}

// maxCachedShops bounds the cache (a shop is a few hundred bytes).
const maxCachedShops = 10000

// forgetDestinations empties the cache; call it under the writer lock
// (inside write or exec) with any change to destinations.
func (s *Store) forgetDestinations() { s.dcache.byShop = nil }

// shopsOf lists the batch's shops, once each.
func shopsOf(ps []pending) []int64 {
	seen := map[int64]bool{}
	var shops []int64
	for _, p := range ps {
		if !seen[p.in.ShopID] {
			seen[p.in.ShopID] = true
			shops = append(shops, p.in.ShopID)
		}
	}
	return shops
}

// destinationsByShop groups enabled destinations (in id order) by shop,
// with their settings decoded.
func destinationsByShop(rows []destinationInfo) (map[int64][]destinationInfo, error) {
	out := map[int64][]destinationInfo{}
	for _, r := range rows {
		r.settings = map[string]string{}
		if r.Settings != "" {
			if err := json.Unmarshal([]byte(r.Settings), &r.settings); err != nil {
				return nil, fmt.Errorf("destination %d settings: %w", r.ID, err)
			}
		}
		out[r.ShopID] = append(out[r.ShopID], r)
	}
	return out, nil
}

// dedupe marks items whose keys an earlier batch or an earlier item of this
// batch already holds.
func dedupe(tx *gormDB, ps []pending, table, column string, keysOf func(*pending) []string, why string, byDelivery bool) error {
	byShop := map[int64][]string{}
	for i := range ps {
		byShop[ps[i].in.ShopID] = append(byShop[ps[i].in.ShopID], keysOf(&ps[i])...)
	}
	held := map[shopKey]int64{}
	for shop, keys := range byShop {
		keys = uniqueNonEmpty(keys)
		for len(keys) > 0 {
			n := min(len(keys), 500)
			found, err := lookUpKeys(tx, table, column, shop, padKeys(keys[:n]))
			if err != nil {
				return fmt.Errorf("look up %s: %w", table, err)
			}
			for k, id := range found {
				held[shopKey{shop, k}] = id
			}
			keys = keys[n:]
		}
	}
	markDups(ps, held, keysOf, why, byDelivery)
	return nil
}

// lookUpKeys returns the events holding keys of a shop in a dedupe table
// (SQLite's batch; run as execBatch does).
func lookUpKeys(tx *gormDB, table, column string, shop int64, keys []string) (map[string]int64, error) {
	found := map[string]int64{}
	args := make([]any, 0, len(keys)+1)
	args = append(args, shop)
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context,
		"SELECT "+column+", event_id FROM "+table+" WHERE shop_id = ? AND "+column+" IN "+inList(len(keys)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			return nil, err
		}
		found[k] = id
	}
	return found, rows.Err()
}

// shopKey is a dedupe key (or beacon order ref) of one shop.
type shopKey struct {
	shop int64
	key  string
}

// markDups marks each item holding a key that held (what earlier batches
// committed, by event) or an earlier item of the batch already holds.
func markDups(ps []pending, held map[shopKey]int64, keysOf func(*pending) []string, why string, byDelivery bool) {
	claimed := map[shopKey]int{}
	for i := range ps {
		p := &ps[i]
		keys := keysOf(p)
		if len(keys) == 0 {
			continue
		}
		for _, k := range keys {
			hk := shopKey{p.in.ShopID, k}
			if orig, ok := held[hk]; ok {
				p.dupOf, p.dupByDelivery = orig, byDelivery
				p.markDup(fmt.Sprintf(why+" (event %d)", k, orig))
				break
			}
			if j, ok := claimed[hk]; ok {
				p.dupOfItem, p.dupByDelivery = j+1, byDelivery
				p.markDup(fmt.Sprintf(why, k))
				break
			}
		}
		if !p.isDup() {
			for _, k := range keys {
				claimed[shopKey{p.in.ShopID, k}] = i
			}
		}
	}
}

// padKeys pads an IN list to the next power of two (repeating its last
// key, which changes nothing) so that look-ups use a few statement texts
// and stay prepared: on PostgreSQL every new text costs a round trip to
// prepare on each pooled connection.
func padKeys(keys []string) []string {
	size := 1
	for size < len(keys) {
		size *= 2
	}
	if size == len(keys) {
		return keys
	}
	out := make([]string, size)
	copy(out, keys)
	for i := len(keys); i < size; i++ {
		out[i] = keys[len(keys)-1]
	}
	return out
}

// eventColumns are inserted for every event, in this order.
const eventColumns = "shop_id, source, topic, kind, delivery_id, order_id, status, reason, duplicate_of, received_at, occurred_at, " +
	"value, currency, event_name, conversion_event_id, test, conversion, refunds, match_info, body, body_codec"

// insertEvents inserts every event with multi-row INSERTs and gives each
// item its id. Ids are assigned in row order by both databases (SQLite's
// rowid and PostgreSQL's sequence both increase as rows are inserted), so
// the sorted ids map onto the items in order, whatever order RETURNING
// reports them in.
func insertEvents(tx *gormDB, ps []pending) error {
	stored := make([]int, 0, len(ps))
	for i := range ps {
		if !ps[i].replay {
			stored = append(stored, i)
		}
	}
	for start, n := range chunks(len(stored)) {
		part := stored[start : start+n]
		var sb strings.Builder
		sb.WriteString("INSERT INTO events (" + eventColumns + ") VALUES ")
		args := make([]any, 0, len(part)*20)
		for i, j := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			r := &ps[j].row
			args = append(args, r.ShopID, r.Source, r.Topic, r.Kind, r.DeliveryID, r.OrderID, r.Status, r.Reason, r.DuplicateOf,
				r.ReceivedAt, r.OccurredAt, r.Value, r.Currency, r.EventName, r.ConversionEventID, r.Test, r.Conversion,
				r.Refunds, r.MatchInfo, r.Body, r.BodyCodec)
		}
		sb.WriteString(" RETURNING id")
		ids, err := scanIDs(tx, sb.String(), args)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if len(ids) != len(part) {
			return fmt.Errorf("insert events: %d ids for %d rows", len(ids), len(part))
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for i, j := range part {
			ps[j].row.ID = ids[i]
			ps[j].res = Committed{EventID: ids[i], Status: ps[j].row.Status, Reason: ps[j].row.Reason}
		}
	}
	// Duplicates of items in the same batch learn their original's id now.
	for i := range ps {
		p := &ps[i]
		if p.dupOfItem == 0 || p.replay {
			continue
		}
		orig := ps[p.dupOfItem-1].row.ID
		p.res.Reason = fmt.Sprintf("%s (event %d)", p.res.Reason, orig)
		if err := tx.Exec(`UPDATE events SET duplicate_of = ?, reason = ? WHERE id = ?`, orig, p.res.Reason, p.row.ID).Error; err != nil {
			return fmt.Errorf("mark duplicate: %w", err)
		}
	}
	return nil
}

// countReplays answers each replay with its original event and counts it
// there (duplicates, last_duplicate_at) instead of storing it again.
func countReplays(tx *gormDB, ps []pending) error {
	origs, count, last := replayCounts(ps)
	for _, id := range origs {
		if err := addReplays(tx, id, count[id], last[id]); err != nil {
			return err
		}
	}
	return nil
}

// replayCounts answers each replay with its original event and returns
// the originals, in id order, with how many replays each got and when the
// last came.
func replayCounts(ps []pending) (origs []int64, count, last map[int64]int64) {
	count = map[int64]int64{}
	last = map[int64]int64{}
	for i := range ps {
		p := &ps[i]
		if !p.replay {
			continue
		}
		orig := p.dupOf
		reason := p.row.Reason
		if p.dupOfItem != 0 {
			orig = ps[p.dupOfItem-1].row.ID
			reason = fmt.Sprintf("%s (event %d)", reason, orig)
		}
		p.res = Committed{EventID: orig, Status: StatusDuplicate, Reason: reason}
		if count[orig] == 0 {
			origs = append(origs, orig)
		}
		count[orig]++
		last[orig] = max(last[orig], p.row.ReceivedAt)
	}
	// In id order, so that replicas updating the same events queue instead
	// of deadlocking.
	sort.Slice(origs, func(i, j int) bool { return origs[i] < origs[j] })
	return origs, count, last
}

// addReplays counts n replays received up to at on event id.
func addReplays(tx *gormDB, id, n, at int64) error {
	err := tx.Exec(`UPDATE events SET duplicates = duplicates + ?,
		last_duplicate_at = CASE WHEN last_duplicate_at > ? THEN last_duplicate_at ELSE ? END WHERE id = ?`, n, at, at, id).Error
	if err != nil {
		return fmt.Errorf("count duplicates: %w", err)
	}
	return nil
}

// claimKeys records the batch's delivery and order keys. The look-ups
// above are authoritative on SQLite (one writer); on PostgreSQL another
// replica may have committed a key since, so the inserts skip conflicts
// and an item whose keys did not all go in loses the race and becomes a
// duplicate.
func (s *Store) claimKeys(tx *gormDB, ps []pending) error {
	deliveries, orders := claimKeyLists(ps)
	insert := func(table, column string, keys []claimKey, extra bool) (map[int64]int, error) {
		won := map[int64]int{}
		for start, n := range chunks(len(keys)) {
			part := keys[start : start+n]
			var sb strings.Builder
			cols := "shop_id, " + column + ", event_id"
			row := "(?, ?, ?)"
			if extra {
				cols, row = cols+", created_at", "(?, ?, ?, ?)"
			}
			sb.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
			args := make([]any, 0, len(part)*4)
			now := ms(time.Now())
			for i, k := range part {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(row)
				args = append(args, k.shop, k.key, k.eventID)
				if extra {
					args = append(args, now)
				}
			}
			sb.WriteString(" ON CONFLICT DO NOTHING RETURNING event_id")
			ids, err := scanIDs(tx, sb.String(), args)
			if err != nil {
				return nil, fmt.Errorf("insert %s: %w", table, err)
			}
			for _, id := range ids {
				won[id]++
			}
		}
		return won, nil
	}
	wonDelivery, err := insert("webhook_deliveries", "delivery_id", deliveries, false)
	if err != nil {
		return err
	}
	wonOrder, err := insert("order_conversions", "order_id", orders, true)
	if err != nil {
		return err
	}
	for _, i := range settleClaims(ps, wonDelivery, wonOrder) {
		p := &ps[i]
		// Lost a race with another replica: undo what it claimed.
		if err := tx.Exec(`DELETE FROM order_conversions WHERE shop_id = ? AND event_id = ?`, p.in.ShopID, p.row.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM webhook_deliveries WHERE shop_id = ? AND event_id = ?`, p.in.ShopID, p.row.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec(lostRaceSQL, StatusDuplicate, p.res.Reason, p.row.ID).Error; err != nil {
			return err
		}
	}
	return nil
}

// lostRaceSQL turns the event of an item that lost a key to another
// replica into a duplicate.
const lostRaceSQL = `UPDATE events SET status = ?, reason = ?, conversion = '', match_info = '', value = '', currency = '',
			event_name = '', conversion_event_id = '' WHERE id = ?`

// claimKey is a dedupe key an item's event claims.
type claimKey struct {
	shop    int64
	key     string
	eventID int64
}

// claimKeyLists lists the delivery and order keys the batch's new events
// claim, each list in (shop, key) order: the same order everywhere, so
// that two replicas inserting the same keys queue behind each other
// instead of deadlocking.
func claimKeyLists(ps []pending) (deliveries, orders []claimKey) {
	for i := range ps {
		p := &ps[i]
		if p.isDup() {
			continue
		}
		if p.delivery != "" {
			deliveries = append(deliveries, claimKey{p.in.ShopID, p.delivery, p.row.ID})
		}
		if p.bodyKey != "" {
			deliveries = append(deliveries, claimKey{p.in.ShopID, p.bodyKey, p.row.ID})
		}
		if p.conv != nil {
			for _, o := range p.orders {
				orders = append(orders, claimKey{p.in.ShopID, o, p.row.ID})
			}
		}
	}
	byKey := func(k []claimKey) {
		sort.Slice(k, func(i, j int) bool {
			if k[i].shop != k[j].shop {
				return k[i].shop < k[j].shop
			}
			return k[i].key < k[j].key
		})
	}
	byKey(deliveries)
	byKey(orders)
	return deliveries, orders
}

// settleClaims finds, from how many keys each event won (by event id),
// the items that lost a key to another replica since the look-ups: each
// becomes a duplicate (res.Reason says why) with no destinations. It
// returns their indexes; the caller undoes what they claimed.
func settleClaims(ps []pending, wonDelivery, wonOrder map[int64]int) []int {
	var lost []int
	for i := range ps {
		p := &ps[i]
		if p.isDup() {
			continue
		}
		var why string
		switch {
		case (p.delivery != "" || p.bodyKey != "") && wonDelivery[p.row.ID] == 0:
			why = fmt.Sprintf(whyDelivery, p.delivery)
			p.dupByDelivery = true
		case p.conv != nil && wonOrder[p.row.ID] != len(p.orders):
			why = fmt.Sprintf(whyOrder, p.in.Webhook.OrderID)
		default:
			continue
		}
		p.dupOf, p.dests = -1, nil
		p.res = Committed{EventID: p.row.ID, Status: StatusDuplicate, Reason: why}
		lost = append(lost, i)
	}
	return lost
}

// insertDeliveries queues every routed conversion in multi-row inserts.
func insertDeliveries(tx *gormDB, ps []pending, routing Routing) error {
	rows := deliveryInserts(ps)
	for start, n := range chunks(len(rows)) {
		part := rows[start : start+n]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO deliveries (event_id, destination_id, shop_id, platform, kind, refund_id, status,
			next_attempt_at, expires_at, created_at, updated_at) VALUES `)
		args := make([]any, 0, len(part)*11)
		for i, r := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			now, expires := r.times(routing)
			args = append(args, r.p.row.ID, r.d.ID, r.d.ShopID, r.d.Platform, KindConversion, 0, DeliveryPending, now, expires, now, now)
		}
		if err := execBatch(tx, sb.String(), args...); err != nil {
			return fmt.Errorf("queue deliveries: %w", err)
		}
	}
	noteQueued(ps)
	return nil
}

// deliveryInsert is a delivery row to queue: a conversion for one of its
// destinations.
type deliveryInsert struct {
	p *pending
	d destinationInfo
}

func deliveryInserts(ps []pending) []deliveryInsert {
	var rows []deliveryInsert
	for i := range ps {
		for _, d := range ps[i].dests {
			rows = append(rows, deliveryInsert{&ps[i], d})
		}
	}
	return rows
}

// times are the delivery's creation (= first attempt) and expiry.
func (r deliveryInsert) times(routing Routing) (now, expires int64) {
	return r.p.row.ReceivedAt, ms(r.p.conv.EventTime.Add(routing.MaxAge(r.d.Platform)))
}

// noteQueued tells each item's answer where it was queued.
func noteQueued(ps []pending) {
	for i := range ps {
		for _, d := range ps[i].dests {
			ps[i].res.Queued++
			ps[i].res.Destinations = append(ps[i].res.Destinations, d.ID)
		}
	}
}

// commitRefunds records the refunds the batch's webhooks report, one
// webhook at a time: refunds are rare, and each links to its order.
func (s *Store) commitRefunds(tx *gormDB, ps []pending, dests map[int64][]destinationInfo, routing Routing) error {
	for i := range ps {
		p := &ps[i]
		if len(p.in.Webhook.Refunds) == 0 || p.dupByDelivery || p.row.Status == StatusError || p.row.Status == StatusIgnored {
			continue
		}
		fresh, note, err := s.recordRefunds(tx, p.in, p.row.ID, dests[p.in.ShopID], routing)
		if err != nil {
			return err
		}
		switch {
		case p.res.Status == StatusDuplicate:
			// A duplicate conversion can still bring a new refund
			// (WooCommerce sends the whole order on every change). One
			// that brought none is a replay after all: counted on its
			// original, not kept.
			orig := p.dupOf
			if p.dupOfItem != 0 {
				orig = ps[p.dupOfItem-1].row.ID
			}
			if fresh > 0 {
				// Say so beside why it is a duplicate: the refund it
				// brought is linked to the original purchase.
				p.res.Reason = joinReason(p.res.Reason, note)
				if err := tx.Exec(`UPDATE events SET reason = ? WHERE id = ?`, p.res.Reason, p.row.ID).Error; err != nil {
					return err
				}
				continue
			}
			if orig <= 0 {
				continue
			}
			// Queued for search in this transaction too.
			if err := tx.Exec(`DELETE FROM search_queue WHERE event_id = ?`, p.row.ID).Error; err != nil {
				return err
			}
			if err := tx.Exec(`DELETE FROM events WHERE id = ?`, p.row.ID).Error; err != nil {
				return err
			}
			if err := addReplays(tx, orig, 1, p.row.ReceivedAt); err != nil {
				return err
			}
			p.res.EventID = orig
			continue
		case p.conv == nil && fresh == 0:
			p.res.Status, p.res.Reason = StatusDuplicate, "refund was already recorded"
		default:
			p.res.Reason = joinReason(p.res.Reason, note)
		}
		if err := tx.Exec(`UPDATE events SET status = ?, reason = ? WHERE id = ?`, p.res.Status, p.res.Reason, p.row.ID).Error; err != nil {
			return err
		}
	}
	return nil
}

// scanIDs runs a statement returning one integer column. It reads rows
// itself: gorm's Scan renders the statement with every argument inlined
// for its trace, which for a batch of 4 KB bodies costs more than the
// insert.
// execBatch runs one statement of SQLite's batch (commitPending; the
// PostgreSQL batch is pgx's) on the connection's prepared statements
// (gorm's cache) as it is written: plain ? placeholders, SQLite's own, and
// no IN lists to expand, so gorm's statement building (clone, AddVar,
// Expr.Build), about a tenth of the single writer's CPU, is skipped.
func execBatch(tx *gormDB, query string, args ...any) error {
	_, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, query, args...)
	return err
}

// scanIDs runs a query of SQLite's batch as execBatch does and returns
// the single column of its rows.
func scanIDs(tx *gormDB, query string, args []any) ([]int64, error) {
	rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// chunkSizes are the only row counts multi-row inserts use, so their SQL
// repeats and stays in the prepared-statement cache.
var chunkSizes = []int{128, 32, 8, 2, 1}

// chunks splits n rows into runs of chunkSizes, yielding each run's start
// and length.
func chunks(n int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		start := 0
		for _, size := range chunkSizes {
			for n-start >= size {
				if !yield(start, size) {
					return
				}
				start += size
			}
		}
	}
}
