package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/postbackhq/postback/alert"
	"github.com/postbackhq/postback/web"
)

func TestAlertChannelsAPIAndTestSend(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []map[string]any
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer recv.Close()
	h := newHarness(t, func(c *web.Config) {
		c.Alerts = alert.New(alert.Config{Store: c.Store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Senders: map[string]alert.Sender{"webhook": alert.NewWebhookSender(nil)}})
	})
	var ch map[string]any
	if code := h.api(t, "POST", "/api/v1/alert-channels", map[string]any{"kind": "webhook", "target": recv.URL + "/hook-secret"}, &ch); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, ch)
	}
	var list struct {
		Channels []map[string]any `json:"channels"`
	}
	h.api(t, "GET", "/api/v1/alert-channels", nil, &list)
	raw, _ := json.Marshal(list)
	if len(list.Channels) != 1 || strings.Contains(string(raw), "hook-secret") {
		t.Errorf("list = %s, want one channel without its URL path", raw)
	}
	var res map[string]any
	if code := h.api(t, "POST", "/api/v1/alert-channels/"+itoa(int64(ch["id"].(float64)))+"/test", nil, &res); code != http.StatusOK {
		t.Fatalf("test send: %d %v", code, res)
	}
	if len(got) != 1 || got[0]["state"] != "test" {
		t.Errorf("receiver got %v", got)
	}
	bad := []map[string]any{
		{"kind": "email", "target": "ops@example.com"}, // no POSTBACK_SMTP_URL
		{"kind": "slack", "target": "http://hooks.slack.com/services/x"},
		{"kind": "pager", "target": "https://x.example"},
	}
	for _, b := range bad {
		if code := h.api(t, "POST", "/api/v1/alert-channels", b, &res); code != http.StatusUnprocessableEntity {
			t.Errorf("create %v: %d, want 422", b, code)
		}
	}
}

func TestUIAlertChannels(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
	}))
	defer recv.Close()
	h := newHarness(t, func(c *web.Config) {
		c.Alerts = alert.New(alert.Config{Store: c.Store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Senders: map[string]alert.Sender{"slack": alert.NewSlackSender(nil)}})
	})
	b := h.loggedIn(t)
	p := b.get(t, "/admin/alerts")
	mustContain(t, "alerts page", p.body, "Add a channel", "set POSTBACK_SMTP_URL", "No channel yet")
	if r := b.post(t, "/admin/alerts", url.Values{"kind": {"slack"}, "shop_id": {"0"}, "target": {"ftp://x"}}); r.code != http.StatusUnprocessableEntity {
		t.Errorf("bad target: %d", r.code)
	}
	if r := b.post(t, "/admin/alerts", url.Values{"kind": {"slack"}, "shop_id": {"0"}, "target": {recv.URL + "/T000/B000/XXXX"}}); r.code != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.code, r.body)
	}
	p = b.get(t, "/admin/alerts")
	mustContain(t, "alerts page", p.body, "Send test")
	mustNotContain(t, "alerts page", p.body, "XXXX")
	chs, _ := h.store.AlertChannels(context.Background())
	if len(chs) != 1 {
		t.Fatalf("channels = %d", len(chs))
	}
	if r := b.post(t, "/admin/alerts/"+itoa(chs[0].ID)+"/test", url.Values{}); r.code != http.StatusSeeOther || !strings.Contains(r.location, "test-sent") {
		t.Errorf("test send: %d %s %s", r.code, r.location, r.body)
	}
	mu.Lock()
	if n != 1 {
		t.Errorf("receiver got %d messages, want 1", n)
	}
	mu.Unlock()
}
