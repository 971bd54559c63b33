package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// Search terms are kept in event_search as "<kind>:<value>", one row per
// term and event. Kinds:
//
//	n  the order's human name or number, lower case, without a leading '#'
//	o  the store's order id
//	x  the conversion's event id (the one shared with the pixel)
//	c  a click id or browser id value
//	e  SHA-256 of the buyer's normalized email: the list can be searched by
//	   email without any email kept in clear for it
//	m  the match-quality band: low (0–3), medium (4–6), high (7–10)
const (
	termName    = "n:"
	termOrder   = "o:"
	termEventID = "x:"
	termClick   = "c:"
	termEmail   = "e:"
	termMatch   = "m:"
)

// maxTermLen bounds a term: store values are short; anything longer is not
// an id a person would search for, and an index entry must stay small.
const maxTermLen = 200

// Match-quality bands of the events list's match filter.
const (
	MatchLow    = "low"
	MatchMedium = "medium"
	MatchHigh   = "high"
)

// MatchBands lists the match filter's values, weakest first.
var MatchBands = []string{MatchLow, MatchMedium, MatchHigh}

// MatchBand is the band a 0–10 quality estimate falls in.
func MatchBand(quality int) string {
	switch {
	case quality >= 7:
		return MatchHigh
	case quality >= 4:
		return MatchMedium
	default:
		return MatchLow
	}
}

// searchTerms lists the terms a stored event is found by, from its
// columns (the background indexer's view of events older than the index).
func searchTerms(orderID, conversionEventID, conversion, matchInfo string) []string {
	var c *mapping.Conversion
	if conversion != "" {
		c = new(mapping.Conversion)
		if json.Unmarshal([]byte(conversion), c) != nil {
			c = nil
		}
	}
	band := ""
	if matchInfo != "" {
		var m mapping.Match
		if json.Unmarshal([]byte(matchInfo), &m) == nil {
			band = MatchBand(m.Quality)
		}
	}
	return termsOf(orderID, conversionEventID, c, band)
}

// termsOf lists the terms of an event: its order id and pixel event id,
// and from its conversion (nil for an event that is none) the order name,
// the email's hash, the click ids, and the match band.
func termsOf(orderID, conversionEventID string, c *mapping.Conversion, band string) []string {
	var terms []string
	add := func(kind, v string) {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > maxTermLen {
			return
		}
		terms = append(terms, kind+v)
	}
	add(termOrder, orderID)
	add(termEventID, conversionEventID)
	if c != nil {
		add(termName, orderNameKey(c.OrderName))
		if email := mapping.NormalizeEmail(c.User.Email); email != "" {
			add(termEmail, mapping.Hash(email))
		}
		k := c.ClickIDs
		for _, v := range []string{k.FBCLID, k.GCLID, k.GBRAID, k.WBRAID, k.TTCLID, k.RDTCID, k.MSCLKID,
			k.LiFatID, k.EPIK, k.ScCID, k.FBP, k.FBC, k.TTP, k.SCID, k.RDTUUID} {
			add(termClick, v)
		}
	}
	add(termMatch, band)
	return dedupeStrings(terms)
}

// orderNameKey is how order names are compared: "#1100", "1100" and
// " #1100 " are the same order.
func orderNameKey(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "#"))
}

// queryTerms lists the terms a search box entry may mean: an email is
// searched by its hash only; anything else as an order name or number,
// order id, event id or click id.
func queryTerms(q string) []string {
	q = strings.TrimSpace(q)
	if q == "" || len(q) > maxTermLen {
		return nil
	}
	if strings.Contains(q, "@") {
		if email := mapping.NormalizeEmail(q); email != "" {
			return []string{termEmail + mapping.Hash(email)}
		}
		return nil
	}
	return dedupeStrings([]string{termName + orderNameKey(q), termOrder + q, termEventID + q, termClick + q})
}

func dedupeStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

type unindexedRow struct {
	ID                int64
	OrderID           string
	ConversionEventID string
	Conversion        string
	MatchInfo         string
}

type queuedRow struct {
	EventID int64
	Gen     int64
	// Terms is the event's terms as a JSON array, computed when it was
	// queued; empty when the indexer must read them from the event (an
	// event queued before this version, or changed since it was queued).
	Terms string
}

// Events are indexed for search in the background, not in the
// transaction that stores them. The ingest transaction only queues the
// event's id with its terms (search_queue, one small row appended per
// webhook); the
// terms of a busy shop's events are many random keys (email hashes, click
// ids), and inserting them one batch of webhooks at a time made the search
// index a quarter of what SQLite's single writer wrote per webhook.
// IndexSearch takes the queue in large batches instead, sorted, reading
// outside the write lock. A search never misses an event already stored:
// on SQLite it reads the queue's terms as well as the index, on
// PostgreSQL it indexes the queue first (see catchUpSearch).
//
// A queued event whose conversion changes before it is indexed (a late
// beacon joins it) has its queue row's gen bumped and its terms cleared:
// the indexer removes only the rows whose gen it read, so it indexes that
// event again, from the event itself.

// beforeIndexWrite, in tests, runs between IndexSearch's read and write.
var beforeIndexWrite func()

// searchLockKey is the PostgreSQL advisory lock of the search indexer
// ("srch" in ASCII).
const searchLockKey = 0x73726368

// searchMu keeps one IndexSearch at a time per process (the background
// loop and a search catching up); across replicas, see searchLockKey.
var searchMu sync.Mutex

// IndexSearch writes the search terms of up to limit queued events, oldest
// first, and reports how many it read from the queue. It is safe to run
// on several replicas at once: on PostgreSQL one indexes while the others
// skip the round and report 0 (an advisory lock), and an event is indexed
// only by the transaction that takes it off the queue.
func (s *Store) IndexSearch(ctx context.Context, limit int) (int, error) {
	return s.indexSearch(ctx, limit, false)
}

// indexSearch is IndexSearch. With catchUp it indexes only the queued
// events whose terms are not in their queue row (see catchUpSearch), and
// on PostgreSQL it waits for another replica's round to end instead of
// skipping its own (a search catching up must not miss what the other
// replica is indexing).
func (s *Store) indexSearch(ctx context.Context, limit int, catchUp bool) (int, error) {
	if limit <= 0 {
		limit = 500
	}
	searchMu.Lock()
	defer searchMu.Unlock()
	db := s.rdb.WithContext(s.rctx(ctx))
	var rows []queuedRow
	which := ""
	if catchUp && s.SearchReadsQueue() {
		which = "WHERE terms = '' " // search_queue_unread
	}
	if err := db.Raw(`SELECT event_id, gen, terms FROM search_queue `+which+`ORDER BY event_id LIMIT ?`, limit).Scan(&rows).Error; err != nil {
		return 0, fmt.Errorf("index search: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	type term struct {
		t  string
		id int64
	}
	var terms []term
	ids := make([]int64, 0, len(rows))
	var unread []int64
	byGen := map[int64][]int64{}
	for _, r := range rows {
		ids = append(ids, r.EventID)
		byGen[r.Gen] = append(byGen[r.Gen], r.EventID)
		var ts []string
		if r.Terms == "" || json.Unmarshal([]byte(r.Terms), &ts) != nil {
			unread = append(unread, r.EventID)
			continue
		}
		for _, t := range ts {
			terms = append(terms, term{t, r.EventID})
		}
	}
	if len(unread) > 0 {
		var evs []unindexedRow
		if err := db.Raw(`SELECT id, order_id, conversion_event_id, conversion, match_info FROM events WHERE id IN ?`,
			padIDs(unread)).Scan(&evs).Error; err != nil {
			return 0, fmt.Errorf("index search: %w", err)
		}
		for _, e := range evs {
			for _, t := range searchTerms(e.OrderID, e.ConversionEventID, e.Conversion, e.MatchInfo) {
				terms = append(terms, term{t, e.ID})
			}
		}
	}
	if beforeIndexWrite != nil {
		beforeIndexWrite()
	}
	// In key order: each index page is touched once per batch.
	sort.Slice(terms, func(i, j int) bool {
		if terms[i].t != terms[j].t {
			return terms[i].t < terms[j].t
		}
		return terms[i].id < terms[j].id
	})
	skipped := false
	wstart := time.Now()
	defer func() { s.ibusy.Add(int64(time.Since(wstart))) }()
	err := s.write(ctx, func(tx *gormDB) error {
		if s.dialect == Postgres {
			// One replica indexes at a time; the others skip the round
			// rather than write the same terms and wait on each other's
			// locks (two replicas' indexers doing so halved ingest).
			mine := true
			if catchUp {
				if err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, searchLockKey).Error; err != nil {
					return fmt.Errorf("index search: %w", err)
				}
			} else if err := tx.Raw(`SELECT pg_try_advisory_xact_lock(?)`, searchLockKey).Scan(&mine).Error; err != nil {
				return fmt.Errorf("index search: %w", err)
			}
			if !mine {
				skipped = true
				return nil
			}
			// A plan made while event_search was small scanned all of it
			// for every batch (see pgUseIndexes).
			if err := tx.Exec(pgUseIndexes).Error; err != nil {
				return fmt.Errorf("index search: %w", err)
			}
		}
		// Index only events that still exist: one deleted since it was
		// queued (its shop deleted, a replay folded into its original)
		// leaves its queue row, and a term row for it would be kept
		// forever, or on SQLite refused by the key to events, failing
		// every round from then on. On PostgreSQL the events are locked
		// against deletion until this commits (event_search has no key
		// to events there, migration 00018): a deletion waits, and then
		// deletes these terms too. Events before queue rows, the order
		// deletions take them in (DeleteShop, Prune).
		live := "SELECT id FROM events WHERE id IN ?"
		if s.dialect == Postgres {
			live += " ORDER BY id FOR KEY SHARE"
		}
		var alive []int64
		if err := tx.Raw(live, padIDs(ids)).Scan(&alive).Error; err != nil {
			return fmt.Errorf("index search: %w", err)
		}
		// Take the events off the queue, and index only those
		// taken: one whose gen moved since it was read (its conversion
		// changed) stays queued and is read again, and one another
		// indexer took already is not written twice.
		taken := map[int64]bool{}
		for gen, ids := range byGen {
			var got []int64
			if err := tx.Raw(`DELETE FROM search_queue WHERE event_id IN ? AND gen = ? RETURNING event_id`, padIDs(ids), gen).Scan(&got).Error; err != nil {
				return fmt.Errorf("index search: %w", err)
			}
			for _, id := range got {
				taken[id] = true
			}
		}
		if len(taken) == 0 {
			return nil
		}
		takenIDs := make([]int64, 0, len(taken))
		for id := range taken {
			takenIDs = append(takenIDs, id)
		}
		if len(alive) < len(ids) {
			exists := make(map[int64]bool, len(alive))
			for _, id := range alive {
				exists[id] = true
			}
			for id := range taken {
				if !exists[id] {
					delete(taken, id)
				}
			}
		}
		// A band indexed earlier (the event was queued again) moves.
		if err := tx.Exec(`DELETE FROM event_search WHERE event_id IN ? AND term LIKE ?`, padIDs(takenIDs), termMatch+"%").Error; err != nil {
			return fmt.Errorf("index search: %w", err)
		}
		args := make([]any, 0, 2*len(terms))
		for _, t := range terms {
			if taken[t.id] {
				args = append(args, t.t, t.id)
			}
		}
		return insertTerms(tx, args)
	})
	if err != nil || skipped {
		return 0, err
	}
	return len(rows), nil
}

// catchUpSearch indexes what a search would otherwise miss.
//
// On SQLite a search reads the queue as well as the index
// (queuedTermsSQL), so the indexer may run behind the webhooks without a
// search missing anything; only a queued event whose terms are not in its
// queue row must be indexed first: one queued before this version or one
// a late beacon changed since it was queued. On PostgreSQL a search reads
// the index only (its planner cannot tell how few queue rows a search
// will match, and then reads every event, measured 2026-12-03), so the
// whole queue is indexed first. Either way a backlog larger than
// searchCatchUp (a restart after a long outage) is left to the
// background loop.
func (s *Store) catchUpSearch(ctx context.Context) {
	if _, err := s.indexSearch(ctx, searchCatchUp, true); err != nil {
		s.log.WarnContext(ctx, "search: catching up the index failed; results may miss the newest events", slog.String("error", err.Error()))
	}
}

// SearchBacklog bounds how many events are queued for the indexer: the
// span of their ids, read from both ends of the queue's key (counting
// the rows read them all, a tenth of the server's CPU when the indexer
// asked five times a second during a burst; one seek per end needs one
// subquery per end, as SQLite seeks only for a lone min or max). It is
// exact while the
// queue holds new events only, whose ids follow each other; an older
// event queued again (a late beacon join) widens it until indexed.
func (s *Store) SearchBacklog(ctx context.Context) (int64, error) {
	var r struct{ Lo, Hi *int64 }
	if err := s.rdb.WithContext(s.rctx(ctx)).Raw(`SELECT (SELECT min(event_id) FROM search_queue) AS lo, (SELECT max(event_id) FROM search_queue) AS hi`).Scan(&r).Error; err != nil {
		return 0, fmt.Errorf("search backlog: %w", err)
	}
	if r.Lo == nil || r.Hi == nil {
		return 0, nil
	}
	return *r.Hi - *r.Lo + 1, nil
}

// SearchReadsQueue reports whether searches read the events still queued
// for the indexer (SQLite), so that the indexer may wait while webhooks
// have the writer (see catchUpSearch).
func (s *Store) SearchReadsQueue() bool { return s.dialect == SQLite }

// queuedTermsSQL is a condition on a search_queue row q (SQLite): its
// terms include one of terms. The row holds them as a JSON array of
// strings, so each is looked for as its JSON text first (a substring
// test, cheap on every row), and a row that has one is confirmed by
// reading the array, so that a value merely containing a term's text does
// not count.
func queuedTermsSQL(terms []string) (string, []any) {
	var sb strings.Builder
	args := make([]any, 0, len(terms)+1)
	sb.WriteString("q.terms <> '' AND (")
	for i, t := range terms {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		sb.WriteString("instr(q.terms, ?) > 0")
		needle, _ := json.Marshal(t) // as queueSearch wrote it
		args = append(args, string(needle))
	}
	sb.WriteString(") AND EXISTS (SELECT 1 FROM json_each(q.terms) j WHERE j.value IN ?)")
	args = append(args, terms)
	return sb.String(), args
}

const searchCatchUp = 5000

// insertTerms adds (term, event id) pairs, flattened in args, in chunks
// of fixed sizes, so the statements repeat (see chunks) rather than one
// prepared, and kept, per row count.
func insertTerms(tx *gormDB, args []any) error {
	for start, n := range chunks(len(args) / 2) {
		if err := tx.Exec(`INSERT INTO event_search (term, event_id) VALUES `+valuesList(pairColumns, n)+` ON CONFLICT DO NOTHING`,
			args[2*start:2*(start+n)]...).Error; err != nil {
			return fmt.Errorf("index search: %w", err)
		}
	}
	return nil
}

var (
	pairColumns = []string{"?", "?"}
	oneColumn   = []string{"?"}
)

// queueSearch queues a batch's new events for the search indexer, each
// with its terms, computed here from the conversion in memory (after any
// beacon was joined), so the indexer neither reads the event back nor
// parses it again.
func queueSearch(tx *gormDB, ps []pending) error {
	var args []any
	for i := range ps {
		p := &ps[i]
		if p.replay {
			continue // not stored: counted on its original event
		}
		args = append(args, p.row.ID, p.searchTerms())
	}
	for start, n := range chunks(len(args) / 2) {
		if err := execBatch(tx, `INSERT INTO search_queue (event_id, terms) VALUES `+valuesList(pairColumns, n)+` ON CONFLICT DO NOTHING`,
			args[2*start:2*(start+n)]...); err != nil {
			return fmt.Errorf("queue search: %w", err)
		}
	}
	return nil
}

// searchTerms is the JSON array of a pending event's search terms, as
// stored events are found by (see termsOf).
func (p *pending) searchTerms() string {
	band, conv := "", p.conv
	if p.row.Status != StatusAccepted {
		conv = nil
	}
	if conv != nil {
		band = MatchBand(p.quality)
	}
	j, _ := json.Marshal(termsOf(p.row.OrderID, p.row.ConversionEventID, conv, band))
	return string(j)
}

// reindexJoined adds the terms a late beacon brought to a stored event
// (its click ids) and moves its match band.
func reindexJoined(tx *gormDB, eventID int64, c *mapping.Conversion, quality int) error {
	// Still queued: make the indexer read the joined conversion from the
	// event, whatever it read or will read from the queue.
	if err := tx.Exec(`UPDATE search_queue SET gen = gen + 1, terms = '' WHERE event_id = ?`, eventID).Error; err != nil {
		return fmt.Errorf("index search: %w", err)
	}
	if err := tx.Exec(`DELETE FROM event_search WHERE event_id = ? AND term LIKE ?`, eventID, termMatch+"%").Error; err != nil {
		return fmt.Errorf("index search: %w", err)
	}
	var args []any
	for _, t := range termsOf("", "", c, MatchBand(quality)) {
		args = append(args, t, eventID)
	}
	return insertTerms(tx, args)
}
