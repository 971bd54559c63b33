package delivery

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// TestStatesInMetricsAndHistory: each outcome of an attempt is counted in
// postback_deliveries_total, and recorded in the delivery's history, under
// the delivery's own state name; a refused credential is
// waiting_credentials there too, not a fifth name.
func TestStatesInMetricsAndHistory(t *testing.T) {
	tests := []struct {
		state string
		err   error
		code  int
	}{
		{store.DeliveryDelivered, nil, 200},
		{store.DeliveryRetrying, platforms.Transient(503, "", "fake: unavailable"), 503},
		{store.DeliveryWaitingCredentials, platforms.Auth(401, "190", "fake: Error validating access token"), 401},
		{store.DeliveryFailed, platforms.Invalid(400, "100", "fake: Invalid parameter"), 400},
		{store.DeliverySkipped, platforms.Invalid(0, "no_identifier", "nothing to match on; not sent"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
				out := all(len(convs), tt.err)
				for i := range out {
					out[i].StatusCode = tt.code
				}
				return out
			})
			ids := f.orders(t, 1, time.Hour)
			f.drain()
			var m dto.Metric
			if err := f.w.cfg.Metrics.Deliveries.WithLabelValues("fake", tt.state).Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetCounter().GetValue(); got != 1 {
				t.Errorf("postback_deliveries_total{platform=fake,outcome=%s} = %v, want 1", tt.state, got)
			}
			ev, err := f.st.Event(context.Background(), ids[0])
			if err != nil {
				t.Fatal(err)
			}
			d := ev.Deliveries[0]
			if d.Status != tt.state || len(d.History) != 1 || d.History[0].Outcome != tt.state {
				t.Errorf("delivery status %q, history %+v; want %s in both", d.Status, d.History, tt.state)
			}
		})
	}
}

// TestNotifyForSkipsDestinationsInFlight: a commit for destinations that
// are all being drained does not wake the worker (their drain takes the
// new rows, and its end wakes it); one for any other destination does.
func TestNotifyForSkipsDestinationsInFlight(t *testing.T) {
	w := New(Config{})
	woken := wokenBy(w)
	if !w.start(7) {
		t.Fatal("start(7) refused")
	}
	for _, tc := range []struct {
		dests []int64
		wake  bool
	}{
		{[]int64{7}, false},
		{[]int64{7, 7}, false},
		{[]int64{7, 8}, true},
		{[]int64{8}, true},
	} {
		w.NotifyFor(tc.dests)
		if got := woken(); got != tc.wake {
			t.Errorf("NotifyFor(%v) woke = %v, want %v", tc.dests, got, tc.wake)
		}
	}
	w.finish(7)
	w.NotifyFor([]int64{7})
	if !woken() {
		t.Error("NotifyFor after the drain ended did not wake the worker")
	}
}

// TestNotifyForSkipsPausedDestinations: while this worker holds a
// destination paused (breaker, throttle, parked credentials) or its
// platform's wire is full, new deliveries to it do not wake the worker:
// the pause's end, or a drain's, does. A pause over, or forgotten because
// a drain started (someone resumed the destination sooner), wakes it again.
func TestNotifyForSkipsPausedDestinations(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	w := New(Config{Now: func() time.Time { return now }, PlatformLimit: 1})
	woken := wokenBy(w)
	w.pauseUntil(9, now.Add(time.Hour)) // its wake-up is an hour away in real time too
	w.pauseUntil(10, now.Add(time.Hour))
	w.mu.Lock()
	w.platformOf[11] = "meta"
	w.onWire["meta"] = 1
	w.mu.Unlock()

	for _, tc := range []struct {
		dests []int64
		wake  bool
	}{
		{[]int64{9}, false},
		{[]int64{9, 10}, false},
		{[]int64{11}, false},
		{[]int64{9, 11}, false},
		{[]int64{9, 12}, true},
	} {
		w.NotifyFor(tc.dests)
		if got := woken(); got != tc.wake {
			t.Errorf("NotifyFor(%v) woke = %v, want %v", tc.dests, got, tc.wake)
		}
	}

	w.releaseWire("meta")
	if w.NotifyFor([]int64{11}); !woken() {
		t.Error("NotifyFor after the platform's wire freed did not wake the worker")
	}
	if !w.start(10) {
		t.Fatal("start(10) refused")
	}
	w.finish(10)
	if w.NotifyFor([]int64{10}); !woken() {
		t.Error("NotifyFor after a drain of the paused destination did not wake the worker")
	}
	now = now.Add(time.Hour)
	if w.NotifyFor([]int64{9}); !woken() {
		t.Error("NotifyFor after the pause ended did not wake the worker")
	}
}

// wokenBy reports, each call, whether w was woken since the last.
func wokenBy(w *Worker) func() bool {
	return func() bool {
		select {
		case <-w.wake:
			return true
		default:
			return false
		}
	}
}
