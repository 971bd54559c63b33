package web_test

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// findFixture is a shop with a fake destination and four orders: two
// named (#1100 with a gclid and the buyer's email, #1101), a long Stripe
// session id, and one that is not paid. The search index is brought up to
// date, as the background indexer does.
func findFixture(t *testing.T) (*harness, shopResp) {
	t.Helper()
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
		map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p1", "token": "t"}}, nil); code != 201 {
		t.Fatalf("destination: %d", code)
	}
	bodies := []string{
		`{"order":"6318840300000","paid":true,"name":"#1100","email":"Jane.Doe@Example.com","gclid":"Cj0KCQ-gclid"}`,
		`{"order":"6318840300001","paid":true,"name":"#1101","email":"someone@example.com"}`,
		`{"order":"cs_live_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9D0e1","paid":true,"name":"=HYPERLINK(\"http://evil.example\")"}`,
		`{"order":"6318840300003","paid":false,"name":"#1103"}`,
	}
	for _, b := range bodies {
		body := []byte(b)
		if code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))}); code != 200 {
			t.Fatalf("webhook: %d %v", code, out)
		}
	}
	if _, err := h.store.IndexSearch(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	return h, shop
}

func TestEventsAPISearchAndFilters(t *testing.T) {
	h, shop := findFixture(t)
	tests := []struct {
		query string
		want  []string
	}{
		{"q=%231100", []string{"6318840300000"}},
		{"q=1101", []string{"6318840300001"}},
		{"q=" + url.QueryEscape("jane.doe@EXAMPLE.com"), []string{"6318840300000"}},
		{"q=Cj0KCQ-gclid", []string{"6318840300000"}},
		{"q=cs_live_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9D0e1", []string{"cs_live_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9D0e1"}},
		{"q=nothing-like-it", nil},
		{"platform=fake&q=%231100", []string{"6318840300000"}},
		{"match=high", []string{"6318840300000"}}, // click id and email
		{"match=low", []string{"cs_live_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9D0e1", "6318840300001"}},
		{"from=2000-01-01&to=2000-01-02", nil},
		{fmt.Sprintf("shop_id=%d&status=ignored", shop.ID), []string{"6318840300003"}},
	}
	for _, tt := range tests {
		var p struct {
			Events []struct {
				OrderID string `json:"order_id"`
			} `json:"events"`
		}
		if code := h.api(t, "GET", "/api/v1/events?"+tt.query, nil, &p); code != 200 {
			t.Errorf("GET events?%s: %d, want 200", tt.query, code)
			continue
		}
		var got []string
		for _, e := range p.Events {
			got = append(got, e.OrderID)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("GET events?%s = %v, want %v", tt.query, got, tt.want)
		}
	}

	bad := []struct{ query, want string }{
		{"platform=myspace", "platform must be fake"},
		{"match=great", "match must be low, medium or high"},
		{"from=yesterday", "from must be a date"},
		{"from=2026-02-01&to=2026-01-01", "from must be before to"},
		{"q=" + strings.Repeat("x", 201), "q must be at most 200 characters"},
	}
	for _, tt := range bad {
		var out struct {
			Error string `json:"error"`
		}
		if code := h.api(t, "GET", "/api/v1/events?"+tt.query, nil, &out); code != 400 || !strings.Contains(out.Error, tt.want) {
			t.Errorf("GET events?%.40s = %d %q, want 400 with %q", tt.query, code, out.Error, tt.want)
		}
	}
}

func TestEventsCSVExport(t *testing.T) {
	h, _ := findFixture(t)
	req, err := http.NewRequest("GET", h.srv.URL+"/api/v1/events?format=csv&status=accepted", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "id" || rows[0][6] != "order_name" {
		t.Fatalf("export rows = %q, want a header and 3 accepted events", rows)
	}
	byOrder := map[string][]string{}
	for _, r := range rows[1:] {
		byOrder[r[7]] = r
	}
	got := byOrder["6318840300000"]
	if got == nil || got[6] != "#1100" || got[8] != "accepted" || got[11] != "10.5" || got[15] != "fake:pending" && got[15] != "fake:delivered" {
		t.Errorf("row for #1100 = %q", got)
	}
	for _, r := range rows {
		for _, cell := range r {
			if strings.Contains(strings.ToLower(cell), "jane") {
				t.Errorf("export carries the buyer's email: %q", r)
			}
		}
	}
}

func TestUIEventsFindByOrderNameAndEmail(t *testing.T) {
	h, _ := findFixture(t)
	b := h.loggedIn(t)
	p := b.get(t, "/admin/events?q="+url.QueryEscape("#1100"))
	if p.code != 200 {
		t.Fatalf("search page: %d", p.code)
	}
	mustContain(t, "search by name", p.body, "#1100", `title="6318840300000"`, "Export CSV")
	mustNotContain(t, "search by name", p.body, "#1101", "cs_live_")
	p = b.get(t, "/admin/events?q="+url.QueryEscape("jane.doe@example.com"))
	mustContain(t, "search by email", p.body, "#1100")
	mustNotContain(t, "search by email", p.body, "#1101")
	// The not-paid order shows why on its row.
	p = b.get(t, "/admin/events?status=ignored")
	mustContain(t, "ignored row", p.body, "6318840300003", "not paid")
	if p := b.get(t, "/admin/events?match=superb"); p.code != 400 {
		t.Errorf("bad match filter: %d, want 400", p.code)
	}
	// The export defuses cells a spreadsheet would run as formulas.
	exp := b.get(t, "/admin/events/export.csv?status=accepted")
	rows, err := csv.NewReader(strings.NewReader(exp.body)).ReadAll()
	if exp.code != 200 || err != nil || len(rows) != 4 {
		t.Fatalf("UI export: %d %v %s", exp.code, err, clip(exp.body))
	}
	if got := rows[1][6]; got != `'=HYPERLINK("http://evil.example")` {
		t.Errorf("formula order name exported as %q, want it prefixed with '", got)
	}
}
