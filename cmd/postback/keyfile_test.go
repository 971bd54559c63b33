package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbackhq/postback/store"
)

// TestKeyFileModeChecked: a key file others can read is used but warned
// about at start; a private one is not.
func TestKeyFileModeChecked(t *testing.T) {
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, true}, {0o644, true}} {
		dir := t.TempDir()
		k, err := store.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "postback.key")
		if err := os.WriteFile(path, []byte(k+"\n"), tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		cfg := Config{DatabaseURL: filepath.Join(dir, "postback.db")}
		if _, err := loadKey(cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatalf("mode %#o: %v", tt.mode, err)
		}
		if got := strings.Contains(logs.String(), "readable by group or others"); got != tt.warn {
			t.Errorf("mode %#o: warned %v, want %v; log:\n%s", tt.mode, got, tt.warn, logs.String())
		}
		if strings.Contains(logs.String(), k) {
			t.Errorf("the log carries the key")
		}
	}
}
