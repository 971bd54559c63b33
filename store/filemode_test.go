package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestSQLiteFilesPrivate: with the usual umask 022, the database and its
// WAL and SHM files are created 0600, not 0644.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "postback.db")
	s := storetest.OpenKey(t, path, storetest.NewKey(t))
	// A write makes sure the WAL and SHM exist.
	if _, err := s.CreateShop(context.Background(), store.Shop{Name: "a", Source: mapping.SourceShopify,
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, t0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode %#o, want 0600", filepath.Base(p), got)
		}
	}
}
