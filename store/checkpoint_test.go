package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// TestWALCheckpointsRunBesideTheWriter: the writer's own automatic
// checkpoint is only a far-off safety net, and the background checkpointer
// moves committed pages into the database file soon after commits, so the
// WAL does not grow and no webhook's commit pays for a checkpoint.
func TestWALCheckpointsRunBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.db")
	s := storetest.Open(t, path)
	ctx := context.Background()
	if n, err := s.WALAutoCheckpoint(ctx); err != nil || n != 16000 {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want 16000 (a safety net only)", n, err)
	}
	before := fileSize(t, path)
	sh := newShop(t, s)
	body := make([]byte, 3000)
	rand.NewChaCha8([32]byte{1}).Read(body) // incompressible: stored as is
	for b := 0; b < 20; b++ {
		var items []store.Incoming
		for i := 0; i < 50; i++ {
			id := fmt.Sprint(b*50 + i)
			in := paid(sh.ID, "evt-"+id, id)
			in.Body = append([]byte(id), body...)
			items = append(items, in)
		}
		if _, err := s.CommitBatch(ctx, items, routing{}); err != nil {
			t.Fatal(err)
		}
	}
	// About 1,000 events of 3 KB went into the WAL (well under the
	// writer's 16,000-page threshold); the background copies them.
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) < before+2<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (was %d) 10 s after 3 MB of commits: no background checkpoint", fileSize(t, path), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
