package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutageEndsWhenMetaRecovers: Meta hangs (connections open, no
// answer), then recovers. Each send is cut off at Meta's recommended
// 1.5 s, the destination pauses, and once Meta answers again the waiting
// delivery goes within seconds, although its own backoff is an hour.
func TestOutageEndsWhenMetaRecovers(t *testing.T) {
	meta := newFakeMeta(t)
	var down atomic.Bool
	down.Store(true)
	release := make(chan struct{})
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			// Hang until the sender gives up (the server notices a closed
			// connection once the body is read) or the test ends.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		meta.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer gate.Close()
	defer close(release)
	in := start(t, map[string]string{"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "p.db"), "POSTBACK_META_URL": gate.URL,
		"POSTBACK_RETRY_BACKOFF": "1h", "POSTBACK_RETRY_MAX_BACKOFF": "2h"})
	defer in.stop(t)
	path := setup(t, in, meta)
	code, out := post(t, in, path, "orders/paid", "evt-1", fixture(t, "orders_paid.json"), shopSecret)
	if code != 200 {
		t.Fatalf("webhook: %d %v", code, out)
	}
	ev := waitDelivery(t, in, out["event_id"], "retrying")
	if d := ev.Deliveries[0]; !strings.Contains(d.LastError, "no answer within 1.5") {
		t.Errorf("after the hang: %+v; want the send cut off at Meta's 1.5 s", d)
	}
	down.Store(false)
	recovered := time.Now()
	waitDelivery(t, in, out["event_id"], "delivered")
	t.Logf("delivered %s after Meta recovered (retry backoff 1h)", time.Since(recovered).Round(time.Millisecond))
	if n := len(meta.received()); n != 1 {
		t.Errorf("Meta received %d events, want 1", n)
	}
}
