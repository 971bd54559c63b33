package platforms

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestMetaQuality runs Quality against a fake Dataset Quality API that
// checks the path, the dataset id, the fields and the bearer token (never
// a token in the URL).
func TestMetaQuality(t *testing.T) {
	answer, err := os.ReadFile("testdata/meta/dataset_quality.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		wantScore float64
		wantErr   error
	}{
		{"purchase entry", 200, string(answer), 7.8, nil},
		{"no entries yet", 200, `{"web":[]}`, -1, nil},
		{"token refused", 400, `{"error":{"message":"Error validating access token","type":"OAuthException","code":190}}`, 0, ErrAuth},
		{"server error", 500, `{"error":{"message":"An unexpected error has occurred.","code":2}}`, 0, ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFake(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if r.Method != http.MethodGet || r.URL.Path != "/"+metaVersion+"/dataset_quality" || q.Get("dataset_id") != "1234567890" ||
					q.Get("fields") != metaQualityFields || q.Get("access_token") != "" || r.Header.Get("Authorization") != "Bearer EAAB-token" {
					t.Errorf("request %s %s (auth %q)", r.Method, r.URL, r.Header.Get("Authorization"))
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			m := NewMeta(Config{BaseURL: srv.URL, Client: &http.Client{Timeout: 5 * time.Second}})
			q, err := m.Quality(context.Background(), Destination{Platform: "meta",
				Credentials: map[string]string{"pixel_id": "1234567890", "access_token": "EAAB-token"}})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Quality error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantScore < 0 && q.Score != nil:
				t.Errorf("score = %v, want none", *q.Score)
			case tc.wantScore >= 0 && (q.Score == nil || *q.Score != tc.wantScore):
				t.Errorf("score = %v, want %v", q.Score, tc.wantScore)
			}
			if tc.wantScore > 0 && (q.Details["event_name"] != "Purchase" || q.Details["dedup_key_feedback"] == nil || q.CheckedAt.IsZero()) {
				t.Errorf("details = %v", q.Details)
			}
		})
	}
}
