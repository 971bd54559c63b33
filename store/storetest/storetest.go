// Package storetest opens real, migrated databases for tests: SQLite in a
// temporary directory, and PostgreSQL in a fresh schema when
// POSTBACK_TEST_POSTGRES holds a URL.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/postbackhq/postback/store"
)

// All returns a migrated SQLite store and, when POSTBACK_TEST_POSTGRES is
// set, a PostgreSQL one, keyed by dialect, so a test runs on both. Without
// the variable it logs that PostgreSQL was skipped.
func All(t *testing.T) map[string]*store.Store {
	t.Helper()
	out := map[string]*store.Store{"sqlite": SQLite(t)}
	if pg := Postgres(t); pg != nil {
		out["postgres"] = pg
	} else {
		t.Log("POSTBACK_TEST_POSTGRES is not set: PostgreSQL skipped, SQLite only")
	}
	return out
}

// SQLite opens a migrated SQLite store in t.TempDir().
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, filepath.Join(t.TempDir(), "test.db"))
}

// Postgres opens a migrated store in a fresh schema of the
// database in POSTBACK_TEST_POSTGRES, dropped when the test ends; nil when
// the variable is unset.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	dsn := PostgresDSN(t)
	if dsn == "" {
		return nil
	}
	return Open(t, dsn)
}

// DSNs returns a fresh SQLite path and, when POSTBACK_TEST_POSTGRES is
// set, the URL of a fresh PostgreSQL schema, keyed by dialect, for tests
// that open the same database more than once (OpenKey).
func DSNs(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{"sqlite": filepath.Join(t.TempDir(), "test.db")}
	if pg := PostgresDSN(t); pg != "" {
		out["postgres"] = pg
	} else {
		t.Log("POSTBACK_TEST_POSTGRES is not set: PostgreSQL skipped, SQLite only")
	}
	return out
}

// PostgresDSN creates a fresh schema in the database in
// POSTBACK_TEST_POSTGRES, dropped when the test ends, and returns a URL
// that uses it; "" when the variable is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("POSTBACK_TEST_POSTGRES")
	if base == "" {
		return ""
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		if db, err := admin.DB(); err == nil {
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates a store on dsn with a random key.
func Open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	return OpenKey(t, dsn, NewKey(t))
}

// NewKey returns a random encryption key.
func NewKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, store.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// OpenKey opens and migrates a store on dsn with the given key, closed
// when the test ends.
func OpenKey(t testing.TB, dsn string, key []byte) *store.Store {
	t.Helper()
	sealer, err := store.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), dsn, sealer, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("open %s: %v", store.DialectOf(dsn), err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", store.DialectOf(dsn), err)
	}
	return s
}
