package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// followSender is a platform that answers with a request id and gives its
// verdict later, as Google Data Manager does.
type followSender struct {
	*sender
	mu      sync.Mutex
	asked   []string
	answers []platforms.PlatformStatus
	errs    []error
}

func (s *followSender) RequestID(response string) string {
	var id string
	if _, err := fmt.Sscanf(response, `{"requestId":%q}`, &id); err != nil {
		return ""
	}
	return id
}

func (s *followSender) RequestStatus(_ context.Context, _ platforms.Destination, id string) (platforms.PlatformStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.asked)
	s.asked = append(s.asked, id)
	if n < len(s.errs) && s.errs[n] != nil {
		return platforms.PlatformStatus{}, s.errs[n]
	}
	return s.answers[n], nil
}

func TestPlatformStatusFollowUp(t *testing.T) {
	answer := func(_ int, convs []mapping.Conversion) []platforms.Result {
		out := all(len(convs), nil)
		for i := range out {
			out[i].Response = `{"requestId":"dm-req-7"}`
		}
		return out
	}
	tests := []struct {
		name    string
		answers []platforms.PlatformStatus
		errs    []error
		advance []time.Duration
		want    string
		detail  string
	}{
		{"accepted after processing",
			[]platforms.PlatformStatus{{State: platforms.StatusProcessing}, {State: platforms.StatusAccepted, Done: true, Detail: "2 events"}},
			nil, []time.Duration{5 * time.Minute, 10 * time.Minute}, "accepted", "2 events"},
		{"partial with reasons",
			[]platforms.PlatformStatus{{State: platforms.StatusPartial, Done: true, Detail: "2 events; errors: INVALID_GCLID ×1"}},
			nil, []time.Duration{5 * time.Minute}, "partial", "2 events; errors: INVALID_GCLID ×1"},
		{"transient error asks again",
			[]platforms.PlatformStatus{{}, {State: platforms.StatusAccepted, Done: true}},
			[]error{platforms.Transient(503, "", "down")}, []time.Duration{5 * time.Minute, 10 * time.Minute}, "accepted", ""},
		{"gives up after a day",
			[]platforms.PlatformStatus{{State: platforms.StatusProcessing}, {State: platforms.StatusProcessing}},
			nil, []time.Duration{5 * time.Minute, 25 * time.Hour}, "unknown", "the platform had not finished processing after 24h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, answer)
			fs := &followSender{sender: f.snd, answers: tt.answers, errs: tt.errs}
			f.w.cfg.Senders = map[string]platforms.Sender{"fake": fs}
			ids := f.orders(t, 2, time.Hour)
			f.drain()
			d := f.delivery(t, ids[0])
			if d.Status != store.DeliveryDelivered || d.PlatformRequestID != "dm-req-7" || d.PlatformStatus != store.PlatformProcessing {
				t.Fatalf("after send: status %s request %q platform status %q", d.Status, d.PlatformRequestID, d.PlatformStatus)
			}
			// Not due yet: nothing is asked.
			f.w.checkStatuses(context.Background())
			if len(fs.asked) != 0 {
				t.Fatalf("asked %v before the first check was due", fs.asked)
			}
			for _, step := range tt.advance {
				f.clk.Add(step)
				f.w.checkStatuses(context.Background())
			}
			if len(fs.asked) != len(tt.advance) {
				t.Errorf("asked %d times, want once per due round (%d): both deliveries share the request", len(fs.asked), len(tt.advance))
			}
			for _, id := range ids {
				d := f.delivery(t, id)
				if d.PlatformStatus != tt.want || d.PlatformDetail != tt.detail {
					t.Errorf("event %d: platform status %q %q, want %q %q", id, d.PlatformStatus, d.PlatformDetail, tt.want, tt.detail)
				}
			}
			// Final: never asked again.
			n := len(fs.asked)
			f.clk.Add(time.Hour)
			f.w.checkStatuses(context.Background())
			if len(fs.asked) != n {
				t.Errorf("asked again after a final verdict")
			}
		})
	}
}

func TestRoutingAdjustsForAPI(t *testing.T) {
	uet := platforms.NewMicrosoft(platforms.Config{})
	offline := platforms.NewMicrosoftOffline(platforms.Config{}, "")
	r := NewRouting(map[string]platforms.Sender{
		"microsoft": platforms.NewAPIChoice("microsoft", platforms.API{Name: "uet_capi", Sender: uet}, platforms.API{Name: "offline_conversions", Sender: offline}),
		"meta":      platforms.NewMeta(platforms.Config{}),
	})
	for _, tt := range []struct {
		platform string
		settings map[string]string
		want     bool
	}{
		{"microsoft", nil, false},
		{"microsoft", map[string]string{"api": "offline_conversions"}, true},
		{"microsoft", map[string]string{"api": "nope"}, false},
		{"meta", nil, false},
		{"unknown", nil, false},
	} {
		if got := r.AdjustsFor(tt.platform, tt.settings); got != tt.want {
			t.Errorf("AdjustsFor(%s, %v) = %v, want %v", tt.platform, tt.settings, got, tt.want)
		}
	}
}
