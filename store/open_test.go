package store_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// Opening a database the process cannot write says so, naming the file
// or directory and the cause, instead of SQLite's "unable to open
// database file: no such file or directory". Permissions bind root only
// on a read-only filesystem, so as root the test runs itself again as
// nobody in a user namespace (unshare), and is skipped without one.
func TestOpenUnwritableSQLite(t *testing.T) {
	dir := os.Getenv("POSTBACK_TEST_UNWRITABLE_DIR")
	if dir == "" {
		dir = t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []string{"file", "dir"} {
			p := filepath.Join(dir, sub)
			if err := os.Mkdir(p, 0o777); err != nil {
				t.Fatal(err)
			}
			s := storetest.Open(t, filepath.Join(p, "postback.db"))
			s.Close()
			os.Remove(filepath.Join(p, "postback.db-wal"))
			os.Remove(filepath.Join(p, "postback.db-shm"))
		}
		if err := os.Chmod(filepath.Join(dir, "file", "postback.db"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "dir", "postback.db"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "dir"), 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "dir"), 0o755) })
		if os.Getuid() == 0 {
			unshare, err := exec.LookPath("unshare")
			if err != nil {
				t.Skip("running as root without unshare: permissions cannot be tested")
			}
			cmd := exec.Command(unshare, "-U", "--map-user=65534", os.Args[0], "-test.run=^TestOpenUnwritableSQLite$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "POSTBACK_TEST_UNWRITABLE_DIR="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "unshare failed") || strings.Contains(string(out), "Operation not permitted") {
					t.Skipf("no user namespace for a non-root run: %s", out)
				}
				t.Fatalf("run as nobody: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "--- PASS: TestOpenUnwritableSQLite") {
				t.Fatalf("run as nobody did not pass:\n%s", out)
			}
			return
		}
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"read-only file", filepath.Join(dir, "file", "postback.db"), []string{"database file", "file/postback.db is not writable: permission denied"}},
		{"read-only directory", filepath.Join(dir, "dir", "postback.db"), []string{"dir of database file", "is not writable", "-wal", "permission denied"}},
		{"missing directory", filepath.Join(dir, "nope", "postback.db"), []string{"nope of database file", "does not exist"}},
	}
	sealer, err := store.NewSealer(make([]byte, store.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.path, sealer, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				s.Close()
				t.Fatal("opened an unwritable database")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
