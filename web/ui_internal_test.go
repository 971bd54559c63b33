package web

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbackhq/postback/platforms"
)

func TestLoginGuard(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	type want int
	const (
		pass want = iota
		refused
		delayed
	)
	type step struct {
		at      time.Duration
		user    string
		ip      string
		n       int  // repeat this many times (0 = once)
		succeed bool // the password was right
		want    want
	}
	many := func(k int, user, ip string) step { return step{user: user, ip: ip, n: k, want: pass} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"a pair passes five, the sixth is refused", []step{
			many(5, "admin", "192.0.2.1"), {user: "admin", ip: "192.0.2.1", want: refused},
			// Not another address, nor another user from this one.
			{user: "admin", ip: "192.0.2.2", want: pass}, {user: "bob", ip: "192.0.2.1", want: pass},
		}},
		{"the user name is folded and capped", []step{
			many(5, "ADMIN", "192.0.2.1"), {user: "admin", ip: "192.0.2.1", want: refused},
			many(5, strings.Repeat("a", 64)+"x", "192.0.2.1"), {user: strings.Repeat("a", 64) + "y", ip: "192.0.2.1", want: refused},
		}},
		{"an IPv6 /64 is one address", []step{
			many(5, "admin", "2001:db8:1:2::1"), {user: "admin", ip: "2001:db8:1:2:ffff::9", want: refused},
			{user: "admin", ip: "2001:db8:1:3::1", want: pass},
		}},
		{"an address is refused after twenty failures over any names", []step{
			many(4, "a", "192.0.2.1"), many(4, "b", "192.0.2.1"), many(4, "c", "192.0.2.1"), many(4, "d", "192.0.2.1"), many(4, "e", "192.0.2.1"),
			{user: "f", ip: "192.0.2.1", want: refused}, {user: "f", ip: "192.0.2.9", want: pass},
		}},
		{"a user under attack: failed addresses refused, clean ones slowed", []step{
			many(4, "admin", "198.51.100.1"), many(4, "admin", "198.51.100.2"), many(4, "admin", "198.51.100.3"),
			many(4, "admin", "198.51.100.4"), many(4, "admin", "198.51.100.5"),
			{user: "admin", ip: "198.51.100.1", want: refused},
			{user: "admin", ip: "203.0.113.7", succeed: true, want: delayed},
		}},
		{"the bucket refills", []step{
			many(5, "admin", "192.0.2.1"), {user: "admin", ip: "192.0.2.1", want: refused},
			{at: 3*time.Minute + time.Second, user: "admin", ip: "192.0.2.1", want: pass},
			{at: 3*time.Minute + 2*time.Second, user: "admin", ip: "192.0.2.1", want: refused},
			{at: 15 * time.Minute, user: "admin", ip: "192.0.2.1", n: 4, want: pass},
		}},
		{"success forgets the pair", []step{
			many(4, "admin", "192.0.2.1"), {user: "admin", ip: "192.0.2.1", succeed: true, want: pass},
			many(5, "admin", "192.0.2.1"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newLoginGuard()
			for i, s := range tt.steps {
				for range max(s.n, 1) {
					now := t0.Add(s.at)
					att, wait, ok := g.admit(now, s.user, s.ip)
					got := pass
					switch {
					case !ok:
						got = refused
						if wait <= 0 || wait > 15*time.Minute {
							t.Errorf("step %d: refused with wait %v, want within 15 minutes", i, wait)
						}
					case att.delay > 0:
						got = delayed
						if att.delay > userMaxDelay {
							t.Errorf("step %d: delay %v, want at most %v", i, att.delay, userMaxDelay)
						}
					}
					if got != s.want {
						t.Fatalf("step %d: admit(%v, %q, %q) = %v, want %v", i, s.at, s.user, s.ip, got, s.want)
					}
					if ok && s.succeed {
						att.succeeded()
					}
				}
			}
		})
	}
}

// TestLoginSuccessHandsBackLater checks that a success some time after
// its admission (bcrypt takes a while) still leaves the address clean.
func TestLoginSuccessHandsBackLater(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	g := newLoginGuard()
	att, _, ok := g.admit(t0, "admin", "192.0.2.1")
	if !ok {
		t.Fatal("refused")
	}
	att.succeeded()
	if !g.addr.full("192.0.2.1", t0.Add(2*time.Second)) || !g.user.full("admin", t0.Add(2*time.Second)) {
		t.Error("a successful log-in left its address or user counted")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newKeyedLimiters(time.Minute, 5)
	for i := range limiterKeys * 2 {
		l.get(strconv.Itoa(i))
	}
	if n := l.cache.Len(); n != limiterKeys {
		t.Errorf("%d keys kept, want at most %d", n, limiterKeys)
	}
}

func TestBcryptGateBoundsConcurrency(t *testing.T) {
	g := newBcryptGate(2)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.do(context.Background(), func() error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
	g.maxWait = 10 * time.Millisecond
	hold := make(chan struct{})
	for range 2 {
		go g.do(context.Background(), func() error { <-hold; return nil })
	}
	time.Sleep(10 * time.Millisecond)
	if err := g.do(context.Background(), func() error { return nil }); !errors.Is(err, errBusy) {
		t.Errorf("full gate: %v, want errBusy", err)
	}
	close(hold)
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/admin/events?status=error", "/admin/events?status=error"},
		{"", "/admin/"},
		{"/api/v1/shops", "/admin/"},
		{"//evil.example/admin/", "/admin/"},
		{"https://evil.example/admin/", "/admin/"},
		{"/admin/\\evil", "/admin/"},
		{"/admin/x\r\nSet-Cookie: a=b", "/admin/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFmtMoney(t *testing.T) {
	tests := []struct{ value, currency, want string }{
		{"10.5", "USD", "10.50 USD"},
		{"120.94", "EUR", "120.94 EUR"},
		{"12800", "JPY", "12800 JPY"},
		{"1.2345", "USD", "1.2345 USD"},
		{"3.1", "KWD", "3.100 KWD"},
		{"0", "", "0.00"},
		{"not a number", "USD", "not a number USD"},
	}
	for _, tt := range tests {
		if got := fmtMoney(tt.value, tt.currency); got != tt.want {
			t.Errorf("fmtMoney(%q, %q) = %q, want %q", tt.value, tt.currency, got, tt.want)
		}
	}
}

func TestFieldErrorDetail(t *testing.T) {
	tests := []struct {
		err  *fieldError
		want string
	}{
		{badField("settings.value_rule", "must be total or subtotal"), "Must be total or subtotal"},
		{badField("name", "is required"), "Is required"},
		{&fieldError{Field: "credentials", Message: "missing credentials for meta: access_token"}, "missing credentials for meta: access_token"},
	}
	for _, tt := range tests {
		if got := tt.err.Detail(); got != tt.want {
			t.Errorf("%+v.Detail() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestTestModeSettings asks the real senders which settings put them in
// test mode: the destination page names exactly these.
func TestTestModeSettings(t *testing.T) {
	cfg := platforms.Config{}
	tests := []struct {
		sender platforms.Sender
		want   []string
	}{
		{platforms.NewMeta(cfg), []string{"Test event code"}},
		{platforms.NewGoogleAds(cfg, ""), []string{"Validate only (test mode)"}},
		{platforms.NewTikTok(cfg), []string{"Test event code"}},
		{platforms.NewReddit(cfg), []string{"Test mode"}},
		{platforms.NewPinterest(cfg), []string{"Test mode"}},
		{platforms.NewSnapchat(cfg), []string{"Validate only", "Test event code"}},
		{platforms.NewMicrosoft(cfg), nil},
		{platforms.NewLinkedIn(cfg, ""), nil},
	}
	for _, tt := range tests {
		if got := testModeSettings(tt.sender); !slices.Equal(got, tt.want) {
			t.Errorf("testModeSettings(%s) = %q, want %q", tt.sender.Name(), got, tt.want)
		}
	}
}

func TestAddrKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := addrKey(tt.in); got != tt.want {
			t.Errorf("addrKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzLimiterKeys checks that no input makes a limiter key longer than
// maxKeyLen (keys are held in memory) or panics.
func FuzzLimiterKeys(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%" + strings.Repeat("x", 200), "ADMIN", strings.Repeat("é", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k := addrKey(s); len(k) > maxKeyLen {
			t.Errorf("addrKey(%q) = %q, longer than %d", s, k, maxKeyLen)
		}
		if k := userKey(s); len(k) > maxKeyLen {
			t.Errorf("userKey(%q) = %q, longer than %d", s, k, maxKeyLen)
		}
	})
}
