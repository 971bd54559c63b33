package store

import "context"

// ForgetSearchIndex makes s look like a database from before the search
// index: no terms, every event not indexed.
func ForgetSearchIndex(ctx context.Context, s *Store) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM event_search`).Error; err != nil {
		return err
	}
	return s.db.WithContext(ctx).Exec(`UPDATE events SET search_indexed = ?`, false).Error
}

// SearchTermsOf lists an event's search terms, sorted.
func SearchTermsOf(ctx context.Context, s *Store, eventID int64) ([]string, error) {
	var out []string
	err := s.rdb.WithContext(ctx).Raw(`SELECT term FROM event_search WHERE event_id = ? ORDER BY term`, eventID).Scan(&out).Error
	return out, err
}
