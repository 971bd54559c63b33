package alert

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbackhq/postback/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestChannelPayloadsGolden pins the JSON webhook and Slack payloads.
func TestChannelPayloadsGolden(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, _ = io.ReadAll(r.Body) }))
	defer srv.Close()
	m := Message{State: "opened", Kind: "missing_orders", ShopID: 3, ShopName: "Acme", Title: "Postback · Acme: missing_orders",
		Summary: "reconciliation found 2 paid orders whose webhook never came (2 sent now, 0 too old to send)",
		Since:   time.Date(2026, 12, 3, 9, 15, 0, 0, time.UTC), Affected: 2,
		Action: "check the store's webhook subscriptions; the missing orders were backfilled", URL: "https://postback.example.com/admin/shops/3"}
	for name, s := range map[string]Sender{"webhook": NewWebhookSender(nil), "slack": NewSlackSender(nil)} {
		got = nil
		if err := s.Send(context.Background(), srv.URL, m); err != nil {
			t.Fatal(err)
		}
		testutil.GoldenJSON(t, filepath.Join("testdata", name+"_opened.golden.json"), got, *update)
	}
}

func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{"smtp://u:p@h:25", "smtps://h", "smtp://%zz", "smtp://u:secret@[::1]:587?from=a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseSMTPURL(raw, "x@y")
		if err != nil {
			return
		}
		if c.Host == "" || c.Addr == "" {
			t.Errorf("ParseSMTPURL(%q) = %+v without host", raw, c)
		}
	})
}
