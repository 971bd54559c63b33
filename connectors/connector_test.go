package connectors

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixture reads a store's webhook body from testdata exactly as sent.
func fixture(t testing.TB, store, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", store, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
