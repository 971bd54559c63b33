// Package testutil holds helpers shared by tests across packages: golden
// files compared by JSON meaning.
package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// GoldenJSON compares got with the JSON golden file at path, by meaning (key
// order and whitespace do not matter). With update set it rewrites the file
// first, indented, so diffs are reviewable.
func GoldenJSON(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatalf("golden %s: output is not JSON: %v\n%s", path, err, got)
		}
		buf.WriteByte('\n')
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run the test with -update to create it)", path, err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("golden %s: output is not JSON: %v\n%s", path, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("golden %s: file is not JSON: %v", path, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("golden %s mismatch (-want +got):\n%s\n(run with -update to accept)", path, diff)
	}
}
