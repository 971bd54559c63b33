package platforms

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestPinterestQuality runs Quality against a fake EQS endpoint that checks
// the path, the query and the bearer token as Pinterest would.
func TestPinterestQuality(t *testing.T) {
	answer, err := os.ReadFile("testdata/pinterest/conversion_eqs.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		wantStatus string
		wantErr    error
	}{
		{"conversions API entry", 200, string(answer), "NEEDS_IMPROVEMENT", nil},
		{"wrapped in items", 200, `{"items":[{"ingestion_source":"CONVERSIONS_API","overall_status":"GOOD","quality_components":{}}]}`, "GOOD", nil},
		{"nothing measured yet", 200, `[]`, "", nil},
		{"token without ads:read", 403, `{"code":29,"message":"You are not permitted to access that resource."}`, "", ErrAuth},
		{"token refused", 401, `{"code":2,"message":"Authentication failed."}`, "", ErrAuth},
		{"server error", 503, `{"code":4197,"message":"Service unavailable"}`, "", ErrTransient},
		{"not JSON", 200, `<html>`, "", ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if r.Method != http.MethodGet || r.URL.Path != "/v5/ad_accounts/549755885175/conversion_eqs" ||
					q.Get("lookback_period") != "14d" || q.Get("source_platform") != "WEB" || q.Get("access_token") != "" ||
					r.Header.Get("Authorization") != "Bearer pina-token" {
					t.Errorf("request %s %s (auth %q)", r.Method, r.URL, r.Header.Get("Authorization"))
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			p := NewPinterest(Config{BaseURL: srv.URL, Client: &http.Client{Timeout: 5 * time.Second}})
			q, err := p.Quality(context.Background(), Destination{Platform: "pinterest",
				Credentials: map[string]string{"ad_account_id": "549755885175", "access_token": "pina-token"}})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Quality error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Score != nil {
				t.Errorf("score = %v; Pinterest gives a status, not a number", *q.Score)
			}
			if got, _ := q.Details["overall_status"].(string); got != tc.wantStatus || q.CheckedAt.IsZero() {
				t.Errorf("details = %v, checked %v; want overall_status %q", q.Details, q.CheckedAt, tc.wantStatus)
			}
		})
	}
}
