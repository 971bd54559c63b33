package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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

// IndexSearch writes the search terms of up to limit events not yet
// indexed, oldest first, and reports how many it indexed: the events
// stored before the index existed (new events get their terms in the
// transaction that stores them). It is safe to run on several replicas at
// once: terms are keyed, so a second writer's rows are no-ops.
func (s *Store) IndexSearch(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 500
	}
	var n int
	err := s.write(ctx, func(tx *gormDB) error {
		var rows []unindexedRow
		if err := tx.Raw(`SELECT id, order_id, conversion_event_id, conversion, match_info FROM events
			WHERE search_indexed = ? ORDER BY id LIMIT ?`, false, limit).Scan(&rows).Error; err != nil {
			return fmt.Errorf("index search: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		var args []any
		ids := make([]int64, 0, len(rows))
		var values strings.Builder
		for _, r := range rows {
			ids = append(ids, r.ID)
			for _, t := range searchTerms(r.OrderID, r.ConversionEventID, r.Conversion, r.MatchInfo) {
				if len(args) > 0 {
					values.WriteString(", ")
				}
				values.WriteString("(?, ?)")
				args = append(args, t, r.ID)
			}
			// Keep each statement's parameters well inside both databases'
			// limits (SQLite 32766, PostgreSQL 65535).
			if len(args) > 2000 {
				if err := insertTerms(tx, values.String(), args); err != nil {
					return err
				}
				values.Reset()
				args = args[:0]
			}
		}
		if len(args) > 0 {
			if err := insertTerms(tx, values.String(), args); err != nil {
				return err
			}
		}
		if err := tx.Exec(`UPDATE events SET search_indexed = ? WHERE id IN ?`, true, ids).Error; err != nil {
			return fmt.Errorf("index search: %w", err)
		}
		n = len(rows)
		return nil
	})
	return n, err
}

func insertTerms(tx *gormDB, values string, args []any) error {
	if err := tx.Exec(`INSERT INTO event_search (term, event_id) VALUES `+values+` ON CONFLICT DO NOTHING`, args...).Error; err != nil {
		return fmt.Errorf("index search: %w", err)
	}
	return nil
}

// insertSearchTerms writes the terms of a batch's new events, in the
// transaction that stores them: from the conversions in memory (after any
// beacon was joined), so nothing is read back or parsed again, and no
// event row is rewritten.
func insertSearchTerms(tx *gormDB, ps []pending) error {
	var values strings.Builder
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		err := insertTerms(tx, values.String(), args)
		values.Reset()
		args = args[:0]
		return err
	}
	for i := range ps {
		p := &ps[i]
		if p.replay {
			continue // not stored: counted on its original event
		}
		band, conv := "", p.conv
		if p.row.Status != StatusAccepted {
			conv = nil
		}
		if conv != nil {
			band = MatchBand(p.quality)
		}
		for _, t := range termsOf(p.row.OrderID, p.row.ConversionEventID, conv, band) {
			if len(args) > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(?, ?)")
			args = append(args, t, p.row.ID)
		}
		if len(args) > 2000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// reindexJoined adds the terms a late beacon brought to a stored event
// (its click ids) and moves its match band.
func reindexJoined(tx *gormDB, eventID int64, c *mapping.Conversion, quality int) error {
	if err := tx.Exec(`DELETE FROM event_search WHERE event_id = ? AND term LIKE ?`, eventID, termMatch+"%").Error; err != nil {
		return fmt.Errorf("index search: %w", err)
	}
	var values strings.Builder
	var args []any
	for _, t := range termsOf("", "", c, MatchBand(quality)) {
		if len(args) > 0 {
			values.WriteString(", ")
		}
		values.WriteString("(?, ?)")
		args = append(args, t, eventID)
	}
	if len(args) == 0 {
		return nil
	}
	return insertTerms(tx, values.String(), args)
}
