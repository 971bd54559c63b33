package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// testDatabases are the databases an end-to-end test runs on: a SQLite
// file, and a fresh PostgreSQL schema when POSTBACK_TEST_POSTGRES is set.
func testDatabases(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{"sqlite": {"POSTBACK_DATABASE_URL": filepath.Join(t.TempDir(), "postback.db")}}
	base := os.Getenv("POSTBACK_TEST_POSTGRES")
	if base == "" {
		t.Log("POSTBACK_TEST_POSTGRES is not set: PostgreSQL skipped, SQLite only")
		return out
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "e2e_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() })
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	key := make([]byte, 32)
	rand.Read(key)
	out["postgres"] = map[string]string{"POSTBACK_DATABASE_URL": u.String(), "POSTBACK_SECRET_KEY": hex.EncodeToString(key)}
	return out
}

// rawShopifyPost sends a signed Shopify webhook over a plain connection,
// so header values can hold bytes net/http's client refuses to send.
func rawShopifyPost(t *testing.T, in *instance, path, topic, eventID string, body []byte) (int, map[string]any) {
	t.Helper()
	u, _ := url.Parse(in.url)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := hmac.New(sha256.New, []byte(shopSecret))
	m.Write(body)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n"+
		"X-Shopify-Hmac-Sha256: %s\r\nX-Shopify-Topic: %s\r\nX-Shopify-Shop-Domain: acme.myshopify.com\r\nX-Shopify-Event-Id: %s\r\n\r\n%s",
		path, u.Host, len(body), base64.StdEncoding.EncodeToString(m.Sum(nil)), topic, eventID, body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// A signed webhook whose id header is not valid UTF-8 (or holds a control
// byte) gets the same answer on SQLite and PostgreSQL: accepted, then a
// duplicate when sent again. PostgreSQL used to answer 503 forever.
func TestNonUTF8HeadersSameAnswerOnBothDatabases(t *testing.T) {
	for name, env := range testDatabases(t) {
		t.Run(name, func(t *testing.T) {
			meta := newFakeMeta(t)
			env["POSTBACK_META_URL"] = meta.srv.URL
			in := start(t, env)
			defer in.stop(t)
			path := setup(t, in, meta)
			// net/http itself refuses control bytes (NUL included) in
			// header values with 400, before Postback sees them; the store
			// cleans NUL from other paths (TestCommitCleansHeaderText).
			tests := []struct{ id, topic, want string }{
				{"evt-\xff\xfe-1", "orders/paid", "accepted"},
				{"evt-\xc3-2", "orders/p\xe4id", "ignored"},
			}
			for i, tt := range tests {
				body := []byte(strings.Replace(string(fixture(t, "orders_paid.json")), `"id":`, fmt.Sprintf(`"id":%d0`, 9+i), 1))
				code, out := rawShopifyPost(t, in, path, tt.topic, tt.id, body)
				if code != 200 || out["status"] != tt.want {
					t.Fatalf("webhook id %q topic %q: %d %v, want 200 %s", tt.id, tt.topic, code, out, tt.want)
				}
				code, out = rawShopifyPost(t, in, path, tt.topic, tt.id, body)
				if code != 200 || out["status"] != "duplicate" {
					t.Fatalf("webhook id %q topic %q again: %d %v, want 200 duplicate", tt.id, tt.topic, code, out)
				}
			}
		})
	}
}
