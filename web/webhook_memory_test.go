package web_test

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/web"
)

// slowBodies opens n connections that each declare a 5 MiB webhook body
// and send only the first sent bytes of it, then hold the connection.
func slowBodies(t *testing.T, h *harness, path string, n, sent int) {
	t.Helper()
	u, err := url.Parse(h.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Test-Signature: 00\r\n\r\n%s",
		path, u.Host, 5<<20, strings.Repeat("x", sent))
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
	}
}

// A flood of connections declaring 5 MiB bodies and sending them slowly
// must not make the server allocate what they declare: 300 of them
// allocated 1.5 GB when buffers were sized from Content-Length.
func TestWebhookSlowBodyFloodKeepsHeapBounded(t *testing.T) {
	h := newHarness(t, func(c *web.Config) { c.MaxBody = web.DefaultMaxBody })
	shop := h.createShop(t, "s3cret")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	slowBodies(t, h, webhookPath(shop), 300, 1000)
	peak := uint64(0)
	for i := 0; i < 10; i++ {
		time.Sleep(30 * time.Millisecond)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	const bound = 64 << 20
	if grew := int64(peak) - int64(before.HeapInuse); grew > bound {
		t.Fatalf("heap in use grew by %d MiB with 300 slow 5 MiB bodies; want under %d MiB", grew>>20, bound>>20)
	}
}

// Past the cap on webhook bytes in flight, a webhook is answered 503 with
// Retry-After, and once the held bodies go, webhooks are taken again.
func TestWebhookInflightCapAnswers503(t *testing.T) {
	h := newHarness(t, func(c *web.Config) {
		c.MaxBody = web.DefaultMaxBody
		c.MaxInflightBytes = 64 << 10
	})
	shop := h.createShop(t, "s3cret")
	path := webhookPath(shop)
	body := []byte(`{"order":"1001","paid":true}`)
	sig := map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))}

	// Two held bodies of 20 KB take 32 KB of budget each. A probe that
	// arrives while they are still being read can take budget they then
	// miss (and they get the 503), so hold them, let the server read
	// them, then probe; start over if the probe got through.
	u, _ := url.Parse(h.srv.URL)
	deadline := time.Now().Add(10 * time.Second)
	var held []net.Conn
	for {
		for _, c := range held {
			c.Close()
		}
		held = held[:0]
		for i := 0; i < 2; i++ {
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			t.Cleanup(func() { c.Close() })
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, 5<<20, strings.Repeat("x", 20<<10))
		}
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(string(body)))
		req.Header.Set("X-Test-Signature", sig["X-Test-Signature"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if ra := resp.Header.Get("Retry-After"); ra == "" {
				t.Fatal("503 without Retry-After")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook answered %d with 64 KB of bodies in flight; want 503", resp.StatusCode)
		}
	}
	for _, c := range held {
		c.Close()
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, _ := h.webhook(t, path, body, sig)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook answered %d after the held bodies went; want 200", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
