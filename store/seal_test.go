package store_test

import (
	"errors"
	"testing"

	"github.com/postbackhq/postback/store"
)

func newSealer(t testing.TB, b byte) *store.Sealer {
	t.Helper()
	key := make([]byte, store.KeySize)
	for i := range key {
		key[i] = b
	}
	s, err := store.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealBindsKeyAndRow: a sealed value opens only with its key, in its
// table, column and row; every failure wraps ErrUnsealable and never
// carries the plaintext.
func TestSealBindsKeyAndRow(t *testing.T) {
	a, b := newSealer(t, 1), newSealer(t, 2)
	if a.KeyID() == b.KeyID() || len(a.KeyID()) != 16 {
		t.Fatalf("key ids %q and %q", a.KeyID(), b.KeyID())
	}
	sealed, err := a.Seal("shops", "signing_secret", 7, "whsec_top")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Open("shops", "signing_secret", 7, sealed); err != nil || got != "whsec_top" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	flipped := append([]byte{}, sealed...)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name          string
		s             *store.Sealer
		table, column string
		id            int64
		v             []byte
		otherKey      bool
	}{
		{"other row", a, "shops", "signing_secret", 8, sealed, false},
		{"other column", a, "shops", "stripe_api_key", 7, sealed, false},
		{"other table", a, "destinations", "signing_secret", 7, sealed, false},
		{"other key", b, "shops", "signing_secret", 7, sealed, true},
		{"tampered", a, "shops", "signing_secret", 7, flipped, false},
		{"truncated", a, "shops", "signing_secret", 7, sealed[:10], false},
		{"unknown format", a, "shops", "signing_secret", 7, []byte{9, 1, 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.Open(tt.table, tt.column, tt.id, tt.v)
			if !errors.Is(err, store.ErrUnsealable) || got != "" {
				t.Fatalf("Open = %q, %v; want ErrUnsealable", got, err)
			}
			if errors.Is(err, store.ErrOtherKey) != tt.otherKey {
				t.Errorf("ErrOtherKey = %v, want %v (%v)", errors.Is(err, store.ErrOtherKey), tt.otherKey, err)
			}
		})
	}
	if v, err := a.Seal("shops", "signing_secret", 7, ""); v != nil || err != nil {
		t.Errorf("Seal(\"\") = %v, %v; want nil", v, err)
	}
	if got, err := a.Open("shops", "signing_secret", 7, nil); got != "" || err != nil {
		t.Errorf("Open(nil) = %q, %v", got, err)
	}
}

// FuzzSealerOpen: Open never panics on stored bytes, and what it opens
// was sealed for that place.
func FuzzSealerOpen(f *testing.F) {
	s := newSealer(f, 3)
	good, err := s.Seal("shops", "signing_secret", 1, "secret")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, int64(1))
	f.Add([]byte{1}, int64(1))
	f.Add([]byte{2, 0, 0}, int64(0))
	f.Fuzz(func(t *testing.T, v []byte, id int64) {
		got, err := s.Open("shops", "signing_secret", id, v)
		if err == nil && len(v) > 0 && got != "secret" {
			t.Fatalf("Open(%x, %d) = %q: opened something never sealed", v, id, got)
		}
	})
}
