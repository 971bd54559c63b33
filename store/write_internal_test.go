package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteDoesNotRollBackWhatSQLiteRolledBack: SQLite ends a transaction
// by itself after some errors (a full disk); the store must not then add
// "cannot rollback - no transaction is active" to the error, and the
// writer connection must stay usable.
func TestWriteDoesNotRollBackWhatSQLiteRolledBack(t *testing.T) {
	ctx := context.Background()
	sealer, err := NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "w.db"), sealer, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(tx *gormDB) error
		want string
	}{
		{"statement fails, transaction still open", func(tx *gormDB) error {
			if err := tx.Exec(`INSERT INTO users (username, password_hash, created_at) VALUES ('a', 'x', 1)`).Error; err != nil {
				return err
			}
			return boom
		}, "boom"},
		{"SQLite already rolled back", func(tx *gormDB) error {
			if err := tx.Exec("ROLLBACK").Error; err != nil {
				return err
			}
			return boom
		}, "boom"},
		{"disk full", func(tx *gormDB) error {
			// max_page_count makes SQLite answer SQLITE_FULL, as a full disk does.
			if err := tx.Exec("PRAGMA max_page_count = 1").Error; err != nil {
				return err
			}
			return tx.Exec(`INSERT INTO users (username, password_hash, created_at) VALUES (?, 'x', 1)`, strings.Repeat("u", 1<<20)).Error
		}, "full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.write(ctx, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "rollback") {
				t.Errorf("write error = %v; want %q without a rollback error", err, tt.want)
			}
			if err := s.db.Exec("PRAGMA max_page_count = 1073741823").Error; err != nil {
				t.Fatal(err)
			}
			if err := s.write(ctx, func(tx *gormDB) error {
				return tx.Exec(`INSERT INTO users (username, password_hash, created_at) VALUES ('ok-' || ?, 'x', 1)`, tt.name).Error
			}); err != nil {
				t.Errorf("next write: %v", err)
			}
		})
	}
}
