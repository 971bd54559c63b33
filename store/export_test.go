package store

import (
	"context"
	"crypto/rand"
)

// SealLegacy seals in the format without key id or associated data that
// Postback wrote before, for tests of reading and upgrading it.
func (s *Sealer) SealLegacy(plaintext string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := append([]byte{sealV1}, nonce...)
	return s.aead.Seal(out, nonce, []byte(plaintext), nil)
}

// ExecRaw runs a statement on the writer, for tests that tamper with rows.
func (s *Store) ExecRaw(ctx context.Context, query string, args ...any) error {
	return s.exec(ctx, func(db *gormDB) error {
		s.forgetDestinations() // a test may change destinations behind the store's back
		return db.Exec(query, args...).Error
	})
}

// SealedValue reads one sealed column of one row.
func (s *Store) SealedValue(ctx context.Context, table, column string, id int64) ([]byte, error) {
	vals, err := scanBlobs(s.db.WithContext(ctx), "SELECT "+column+" FROM "+table+" WHERE id = ?", id)
	if err != nil || len(vals) == 0 {
		return nil, err
	}
	return vals[0], nil
}

// SealerForTest is the store's sealer.
func (s *Store) SealerForTest() *Sealer { return s.sealer }

// ForgetSearchIndex makes s look like a database from before the search
// index: no terms, every event queued.
func ForgetSearchIndex(ctx context.Context, s *Store) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM event_search`).Error; err != nil {
		return err
	}
	return s.db.WithContext(ctx).Exec(`INSERT INTO search_queue (event_id) SELECT id FROM events WHERE 1 = 1 ON CONFLICT DO NOTHING`).Error
}

// SearchTermsOf lists an event's search terms, sorted.
func SearchTermsOf(ctx context.Context, s *Store, eventID int64) ([]string, error) {
	var out []string
	err := s.rdb.WithContext(ctx).Raw(`SELECT term FROM event_search WHERE event_id = ? ORDER BY term`, eventID).Scan(&out).Error
	return out, err
}

// SetBeforeIndexWrite sets a function IndexSearch calls between reading
// the queue and writing terms (nil to clear).
func SetBeforeIndexWrite(f func()) { beforeIndexWrite = f }

// WALCheckpointTarget reports the writer's automatic checkpoint threshold.
func (s *Store) WALAutoCheckpoint(ctx context.Context) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Raw(`PRAGMA wal_autocheckpoint`).Scan(&n).Error
	return n, err
}

// CountRows counts the rows of table that match where.
func (s *Store) CountRows(ctx context.Context, table, where string, args ...any) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) FROM "+table+" WHERE "+where, args...).Scan(&n).Error
	return n, err
}
