package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// receiver is an alert webhook that records what it got and can fail.
type receiver struct {
	mu    sync.Mutex
	got   []map[string]any
	fails int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var m map[string]any
	if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.got = append(r.got, m)
}

func (r *receiver) states(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		if s, ok := m[key].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// smtpSink is a minimal SMTP server that keeps each message's data.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 sink ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			io.WriteString(c, "250 sink\r\n")
		case cmd == "DATA":
			io.WriteString(c, "354 go on\r\n")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			io.WriteString(c, "250 queued\r\n")
		case cmd == "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

func (s *smtpSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// TestOneAlertPerIncidentAndOneOnResolve: the store rejects the shop's
// credentials; every channel (JSON webhook, Slack, e-mail, and one that
// fails twice before it works) gets exactly one alert however often the
// alerter runs, and one when the credentials work again.
func TestOneAlertPerIncidentAndOneOnResolve(t *testing.T) {
	for name, st := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			hook, slack, flaky := &receiver{}, &receiver{}, &receiver{fails: 2}
			hookSrv, slackSrv, flakySrv := httptest.NewServer(hook), httptest.NewServer(slack), httptest.NewServer(flaky)
			defer hookSrv.Close()
			defer slackSrv.Close()
			defer flakySrv.Close()
			sink := newSMTPSink(t)
			smtpCfg, err := ParseSMTPURL("smtp://"+sink.ln.Addr().String(), "alerts@example.com")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			a := New(Config{Store: st, PublicURL: "https://postback.example.com", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Now:     func() time.Time { return now },
				Senders: map[string]Sender{"webhook": NewWebhookSender(nil), "slack": NewSlackSender(nil), "email": NewEmailSender(smtpCfg)}})

			sh, err := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
			if err != nil {
				t.Fatal(err)
			}
			other, err := st.CreateShop(ctx, store.Shop{Name: "Other", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range []store.AlertChannel{
				{ShopID: sh.ID, Kind: "webhook", Target: hookSrv.URL, Enabled: true},
				{ShopID: 0, Kind: "slack", Target: slackSrv.URL, Enabled: true},
				{ShopID: sh.ID, Kind: "email", Target: "ops@example.com", Enabled: true},
				{ShopID: sh.ID, Kind: "webhook", Target: flakySrv.URL, Enabled: true},
				{ShopID: other.ID, Kind: "webhook", Target: flakySrv.URL + "/other", Enabled: true},
			} {
				if _, err := st.CreateAlertChannel(ctx, ch, now); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, URL: "https://acme.myshopify.com", Credentials: map[string]string{"admin_api_token": "x"}}, now); err != nil {
				t.Fatal(err)
			}
			if err := st.SetStoreAPIStatus(ctx, sh.ID, store.StoreAPIAuthFailed, "store API refused the credentials (HTTP 401)", now.Add(time.Minute), now); err != nil {
				t.Fatal(err)
			}
			cycle := func(n int) {
				for i := 0; i < n; i++ {
					if err := a.Evaluate(ctx); err != nil {
						t.Fatal(err)
					}
					if _, err := a.Send(ctx); err != nil {
						t.Fatal(err)
					}
					now = now.Add(3 * time.Minute) // past each retry's backoff
				}
			}
			cycle(4)
			if got := hook.states("state"); len(got) != 1 || got[0] != "opened" {
				t.Errorf("webhook channel got %v, want one opened", got)
			}
			if got := slack.states("text"); len(got) != 1 || !strings.Contains(got[0], "rejected") || !strings.Contains(got[0], "/admin/shops/") {
				t.Errorf("slack channel got %v, want one alert saying what broke with a link", got)
			}
			if got := flaky.states("state"); len(got) != 1 {
				t.Errorf("flaky channel got %v, want one opened after its retries", got)
			}
			if sink.count() != 1 {
				t.Errorf("e-mail sink got %d messages, want 1", sink.count())
			}
			if m := hook.got[0]; m["kind"] != "credentials_rejected" || m["action"] == "" || m["since"] == "" {
				t.Errorf("alert lacks what/since/action: %v", m)
			}

			// The credentials work again: one resolution each.
			if err := st.SetStoreAPIStatus(ctx, sh.ID, store.StoreAPIOK, "", time.Time{}, now); err != nil {
				t.Fatal(err)
			}
			cycle(3)
			if got := hook.states("state"); len(got) != 2 || got[1] != "resolved" {
				t.Errorf("webhook channel got %v, want opened then resolved", got)
			}
			if got := slack.states("text"); len(got) != 2 || !strings.HasPrefix(got[1], "Resolved") {
				t.Errorf("slack got %d messages, want 2", len(got))
			}
			if got := flaky.states("state"); len(got) != 2 {
				t.Errorf("flaky channel got %v, want opened and resolved", got)
			}
			if sink.count() != 2 {
				t.Errorf("e-mail sink got %d messages, want 2", sink.count())
			}
		})
	}
}

// TestFailingChannelIsShownAndRetried: a channel that keeps failing shows
// its error and is retried with backoff, not on every run.
func TestFailingChannelIsShownAndRetried(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	down := &receiver{fails: 100}
	srv := httptest.NewServer(down)
	defer srv.Close()
	now := time.Now()
	a := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now },
		Senders: map[string]Sender{"webhook": NewWebhookSender(nil)}})
	sh, _ := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	ch, _ := st.CreateAlertChannel(ctx, store.AlertChannel{Kind: "webhook", Target: srv.URL + "/secret-path", Enabled: true}, now)
	st.SaveStoreAPI(ctx, store.StoreAPI{ShopID: sh.ID, Credentials: map[string]string{}}, now)
	st.SetStoreAPIStatus(ctx, sh.ID, store.StoreAPIAuthFailed, "refused", now, now)
	a.Evaluate(ctx)
	a.Send(ctx)
	a.Send(ctx) // within the backoff: no second try
	if down.fails != 99 {
		t.Errorf("tries = %d, want 1 before the backoff ends", 100-down.fails)
	}
	got, _ := st.AlertChannel(ctx, ch.ID)
	if !strings.Contains(got.LastError, "HTTP 500") || strings.Contains(got.LastError, "secret-path") {
		t.Errorf("channel error = %q, want the status without the URL", got.LastError)
	}
	now = now.Add(2 * time.Minute)
	a.Send(ctx)
	if down.fails != 98 {
		t.Errorf("tries = %d, want 2 after the backoff", 100-down.fails)
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		raw      string
		addr     string
		tls      bool
		from     string
		wantFail bool
	}{
		{"smtp://alerts%40example.com:p%40ss@mail.example.com:587", "mail.example.com:587", false, "alerts@example.com", false},
		{"smtps://u:p@mail.example.com", "mail.example.com:465", true, "postback@example.org", false},
		{"smtp://mail.example.com?from=ops%40example.com", "mail.example.com:587", false, "ops@example.com", false},
		{"http://mail.example.com", "", false, "", true},
		{"smtp://", "", false, "", true},
	}
	for _, tt := range tests {
		c, err := ParseSMTPURL(tt.raw, "postback@example.org")
		if tt.wantFail {
			if err == nil {
				t.Errorf("ParseSMTPURL(%q) = %+v, want an error", tt.raw, c)
			} else if strings.Contains(err.Error(), "p@ss") {
				t.Errorf("error carries the password: %v", err)
			}
			continue
		}
		if err != nil || c.Addr != tt.addr || c.TLS != tt.tls || c.From != tt.from {
			t.Errorf("ParseSMTPURL(%q) = %+v, %v; want %s tls=%v from %s", tt.raw, c, err, tt.addr, tt.tls, tt.from)
		}
	}
}

type routing struct{}

func (routing) Accepts(string, map[string]string, bool) bool { return true }
func (routing) Adjusts(string) bool                          { return false }
func (routing) MaxAge(string) time.Duration                  { return 7 * 24 * time.Hour }

func TestLowAccountedShareOpensAnIncident(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	now := time.Now()
	sh, _ := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	if _, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "1", "access_token": "t"}}, now); err != nil {
		t.Fatal(err)
	}
	var items []store.Incoming
	for i := 0; i < 12; i++ {
		id := strconv.Itoa(1000 + i)
		items = append(items, store.Incoming{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: now.Add(-2 * time.Hour),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/paid", OrderID: id, Outcome: mapping.OutcomeConversion,
				Conversion: &mapping.Conversion{EventID: id, EventName: mapping.EventPurchase, EventTime: now.Add(-2 * time.Hour), OrderID: id, Currency: "USD"}}})
	}
	if _, err := st.CommitBatch(ctx, items, routing{}); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err := a.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	open, _ := st.OpenIncidents(ctx)
	found := false
	for _, inc := range open {
		if inc.Key == "accounted_share:meta" && inc.Affected == 12 {
			found = true
		}
	}
	if !found {
		t.Errorf("open incidents = %+v, want accounted_share:meta with 12 orders", open)
	}
}

func TestExpiringAPIVersionOpensAnIncident(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	sh, _ := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	d, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "1", "access_token": "t"}, Settings: map[string]string{"api_version": "v24.0"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err := a.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	open, _ := st.OpenIncidents(ctx)
	if len(open) != 1 || open[0].Key != "api_version:"+strconv.FormatInt(d.ID, 10) || !strings.Contains(open[0].Summary, "v24.0") {
		t.Errorf("open incidents = %+v, want the ended v24.0", open)
	}
}

func TestWebhooksStoppingOpensAnIncident(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	now := time.Now()
	sh, _ := st.CreateShop(ctx, store.Shop{Name: "Acme", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	quiet, _ := st.CreateShop(ctx, store.Shop{Name: "Quiet", Source: mapping.SourceShopify, Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	var items []store.Incoming
	for i := 0; i < 12; i++ {
		items = append(items, store.Incoming{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/create", ReceivedAt: now.Add(-72 * time.Hour),
			Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/create", OrderID: strconv.Itoa(i), Outcome: mapping.OutcomeIgnored, Reason: "pending"}})
	}
	items = append(items, store.Incoming{ShopID: quiet.ID, Source: mapping.SourceShopify, Topic: "orders/create", ReceivedAt: now.Add(-72 * time.Hour),
		Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/create", OrderID: "q", Outcome: mapping.OutcomeIgnored}})
	if _, err := st.CommitBatch(ctx, items, routing{}); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err := a.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	open, _ := st.OpenIncidents(ctx)
	if len(open) != 1 || open[0].ShopID != sh.ID || open[0].Key != "webhooks_silent" {
		t.Errorf("open incidents = %+v, want webhooks_silent for the busy shop only", open)
	}
	// A webhook arrives: resolved.
	if _, err := st.CommitBatch(ctx, []store.Incoming{{ShopID: sh.ID, Source: mapping.SourceShopify, Topic: "orders/create", ReceivedAt: now,
		Webhook: mapping.Webhook{Source: mapping.SourceShopify, Topic: "orders/create", OrderID: "new", Outcome: mapping.OutcomeIgnored}}}, routing{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	a.Evaluate(ctx)
	if open, _ := st.OpenIncidents(ctx); len(open) != 0 {
		t.Errorf("still open: %+v", open)
	}
}
