package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// These tests run the worker on the real clock, with short durations.
// They assert order and counts, and bound time only generously, so that a
// slow shared host does not make them flake.

// destSender answers per destination: hang (until the send's context
// ends) or answer.
type destSender struct {
	sender
	mu       sync.Mutex
	hang     map[int64]bool
	hungNow  atomic.Int64 // hung sends in flight
	returned atomic.Int64 // hung sends that came back
	got      map[int64]int
}

func (s *destSender) Send(ctx context.Context, d platforms.Destination, convs []mapping.Conversion) []platforms.Result {
	s.mu.Lock()
	hang := s.hang[d.ID]
	s.mu.Unlock()
	if hang {
		s.hungNow.Add(1)
		<-ctx.Done()
		s.hungNow.Add(-1)
		s.returned.Add(1)
		return all(len(convs), platforms.Transient(0, "", "send interrupted"))
	}
	s.mu.Lock()
	s.got[d.ID] += len(convs)
	s.mu.Unlock()
	return s.sender.Send(ctx, d, convs)
}

func (s *destSender) delivered(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

type env struct {
	st  *store.Store
	log *countingHandler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{st: storetest.SQLite(t), log: &countingHandler{}}
}

func (e *env) shop(t *testing.T) int64 {
	t.Helper()
	sh, err := e.st.CreateShop(context.Background(), store.Shop{Name: "s", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sh.ID
}

func (e *env) dest(t *testing.T, shopID int64, platform string) int64 {
	t.Helper()
	d, err := e.st.CreateDestination(context.Background(), store.Destination{ShopID: shopID, Platform: platform, Enabled: true, Credentials: map[string]string{"t": "t"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// orders commits n paid orders to a shop, with ids from first.
func (e *env) orders(t *testing.T, shopID int64, first, n int, senders map[string]platforms.Sender) {
	t.Helper()
	now := time.Now()
	var items []store.Incoming
	for i := 0; i < n; i++ {
		id := fmt.Sprint(first + i)
		items = append(items, store.Incoming{ShopID: shopID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: now,
			Webhook: mapping.Webhook{DeliveryID: "d" + id, OrderID: id, Outcome: mapping.OutcomeConversion, Conversion: &mapping.Conversion{
				EventID: id, EventName: mapping.EventPurchase, EventTime: now, OrderID: id, Value: decimal.RequireFromString("1"), Currency: "USD",
				User: mapping.User{Email: "a@example.com"}}}})
	}
	if _, err := e.st.CommitBatch(context.Background(), items, NewRouting(senders)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) worker(cfg Config) *Worker {
	cfg.Metrics = metrics.New(prometheus.NewRegistry())
	cfg.Log = slog.New(e.log)
	if cfg.Store == nil {
		cfg.Store = e.st
	}
	if cfg.Owner == "" {
		cfg.Owner = "test"
	}
	return New(cfg)
}

// run starts w and stops it when the test ends.
func run(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	w.Notify()
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// countingHandler counts log records by level and message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.msgs == nil {
		h.msgs = map[string]int{}
	}
	h.msgs[r.Level.String()+" "+r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k, v := range h.msgs {
		if len(k) > len(level.String()) && k[:len(level.String())+1] == level.String()+" " {
			n += v
		}
	}
	return n
}

// TestHungDestinationsNeverDelayAHealthyOne: more destinations whose
// platform hangs than there are slots, created first and with older work,
// and a healthy destination of another shop. The healthy one must send
// everything while every hung send is still on the wire, within about one
// poll interval of becoming due.
func TestHungDestinationsNeverDelayAHealthyOne(t *testing.T) {
	tests := []struct {
		name     string
		hung     int
		platform string // of the hung destinations; the healthy one is on "fake"
		cfg      Config
	}{
		// Same platform: only the slots' early release saves it.
		{"more hung than slots", 12, "fake", Config{Concurrency: 4}},
		// Hung destinations enough to fill every slot and all overtime:
		// their platform's limit keeps room for the others.
		{"more hung than slots and overtime", 40, "hung", Config{Concurrency: 2, MaxOvertime: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			snd := &destSender{sender: sender{answer: func(_ int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) }},
				hang: map[int64]bool{}, got: map[int64]int{}}
			senders := map[string]platforms.Sender{"fake": snd, "hung": snd}
			broken := e.shop(t)
			for i := 0; i < tt.hung; i++ {
				snd.hang[e.dest(t, broken, tt.platform)] = true
			}
			e.orders(t, broken, 1000, 20, senders)
			healthyShop := e.shop(t)
			healthy := e.dest(t, healthyShop, "fake")
			const poll = 100 * time.Millisecond
			cfg := tt.cfg
			cfg.Senders, cfg.Poll = senders, poll
			cfg.SendTimeouts = map[string]time.Duration{"fake": 5 * time.Second, "hung": 5 * time.Second}
			w := e.worker(cfg)
			run(t, w)
			// Every hung destination that may send is on the wire.
			want := int64(min(tt.hung, w.cfg.PlatformLimit, w.cfg.Concurrency+w.cfg.MaxOvertime))
			eventually(t, 10*time.Second, "the hung destinations did not start", func() bool { return snd.hungNow.Load() >= want })
			// Everything now competes with hung sends for the slots.
			e.orders(t, healthyShop, 5000, 30, senders)
			w.Notify()
			took := eventually(t, 10*time.Second, "the healthy destination was starved", func() bool { return snd.delivered(healthy) == 30 })
			if n := snd.returned.Load(); n != 0 {
				t.Errorf("%d hung sends returned before the healthy destination was done; the test proves nothing", n)
			}
			t.Logf("healthy destination drained in %s with %d sends hung (poll %s)", took, snd.hungNow.Load(), poll)
			// Generous: one poll interval plus scheduling on a busy host.
			if took > 20*poll {
				t.Errorf("healthy destination took %s, want about one poll interval (%s)", took, poll)
			}
		})
	}
}

// failingStore is a real store whose chosen methods fail on demand.
type failingStore struct {
	*store.Store
	failClaim    atomic.Bool
	claims       atomic.Int64
	failComplete atomic.Int64 // fail this many more Complete calls
	completes    atomic.Int64
}

var errDiskFull = errors.New("claim deliveries: database or disk is full")

func (s *failingStore) Claim(ctx context.Context, id int64, owner string, limit int, now time.Time, lease time.Duration) ([]store.Claimed, error) {
	s.claims.Add(1)
	if s.failClaim.Load() {
		return nil, errDiskFull
	}
	return s.Store.Claim(ctx, id, owner, limit, now, lease)
}

func (s *failingStore) Complete(ctx context.Context, owner string, outs []store.Outcome, now time.Time) error {
	s.completes.Add(1)
	if s.failComplete.Add(-1) >= 0 {
		return errors.New("complete: database or disk is full")
	}
	return s.Store.Complete(ctx, owner, outs, now)
}

// TestStoreErrorsBackOffAndLogOnce: with claims failing (a full disk),
// the worker tries a bounded number of times, logs the trouble once, and
// logs once more when it ends.
func TestStoreErrorsBackOffAndLogOnce(t *testing.T) {
	e := newEnv(t)
	snd := &sender{answer: func(_ int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) }}
	senders := map[string]platforms.Sender{"fake": snd}
	shop := e.shop(t)
	for i := 0; i < 3; i++ {
		e.dest(t, shop, "fake")
	}
	e.orders(t, shop, 1000, 5, senders)
	fs := &failingStore{Store: e.st}
	fs.failClaim.Store(true)
	w := e.worker(Config{Store: fs, Senders: senders, Poll: 5 * time.Millisecond,
		StoreBackoff: 50 * time.Millisecond, StoreMaxBackoff: 200 * time.Millisecond})
	run(t, w)
	time.Sleep(time.Second)
	claims := fs.claims.Load()
	// 50, 100, 200, 200, 200 ms…: about 7 rounds of at most 3 claims.
	// Without the backoff this is thousands (one per 5 ms poll and more).
	if claims > 40 {
		t.Errorf("%d claim attempts in 1 s of failing store, want a bounded few", claims)
	}
	if n := e.log.count(slog.LevelError); n != 1 {
		t.Errorf("%d error lines in 1 s of failing store, want 1 (%v)", n, e.log.msgs)
	}
	fs.failClaim.Store(false)
	eventually(t, 10*time.Second, "deliveries did not resume", func() bool { return snd.callCount() >= 3 })
	if n := e.log.msgs["INFO database answers again; delivery resumes"]; n != 1 {
		t.Errorf("recovery logged %d times, want once (%v)", n, e.log.msgs)
	}
	t.Logf("%d claims while failing", claims)
}

// TestOutcomeWriteIsRetried: a failed write of outcomes is retried, not
// left to the lease, so nothing is sent twice.
func TestOutcomeWriteIsRetried(t *testing.T) {
	f := newFixture(t, func(_ int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) })
	ids := f.orders(t, 1, time.Hour)
	fs := &failingStore{Store: f.st}
	fs.failComplete.Store(2)
	f.w.cfg.Store = fs
	f.w.cfg.StoreBackoff = 10 * time.Millisecond
	f.drain()
	f.clk.Add(time.Hour) // every lease long gone
	f.drain()
	if d := f.delivery(t, ids[0]); d.Status != store.DeliveryDelivered || d.Attempts != 1 {
		t.Errorf("delivery = %+v", d)
	}
	if n, c := f.snd.callCount(), fs.completes.Load(); n != 1 || c != 3 {
		t.Errorf("sent %d times with %d outcome writes, want 1 send and 3 writes", n, c)
	}
}

// TestLeasesAreRenewedWhileSending: a send longer than the lease keeps
// its deliveries; another replica cannot claim them meanwhile.
func TestLeasesAreRenewedWhileSending(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	snd := &sender{answer: func(_ int, convs []mapping.Conversion) []platforms.Result {
		<-release
		return all(len(convs), nil)
	}}
	senders := map[string]platforms.Sender{"fake": snd}
	shop := e.shop(t)
	dest := e.dest(t, shop, "fake")
	e.orders(t, shop, 1000, 3, senders)
	w := e.worker(Config{Senders: senders, Poll: 10 * time.Millisecond, Lease: 300 * time.Millisecond, RenewEvery: 50 * time.Millisecond})
	run(t, w)
	eventually(t, 10*time.Second, "the send did not start", func() bool { return snd.callCount() == 1 })
	time.Sleep(900 * time.Millisecond) // three leases
	stolen, err := e.st.Claim(context.Background(), dest, "other", 10, time.Now(), time.Minute)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if len(stolen) != 0 {
		t.Errorf("another replica claimed %d deliveries still being sent", len(stolen))
	}
}

// TestOutageRecoveryDrainsWhenThePlatformRecovers: while the platform is
// down the destination pauses and is probed with one delivery at a time;
// when it is back, everything waiting goes at once, although each
// delivery's own backoff (an hour) has not run out.
func TestOutageRecoveryDrainsWhenThePlatformRecovers(t *testing.T) {
	e := newEnv(t)
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var outageSizes []int
	snd := &sender{answer: func(_ int, convs []mapping.Conversion) []platforms.Result {
		if down.Load() {
			mu.Lock()
			outageSizes = append(outageSizes, len(convs))
			mu.Unlock()
			return all(len(convs), platforms.Transient(503, "", "unavailable"))
		}
		return all(len(convs), nil)
	}}
	senders := map[string]platforms.Sender{"fake": snd}
	shop := e.shop(t)
	e.dest(t, shop, "fake")
	const orders = 200
	e.orders(t, shop, 1000, orders, senders)
	w := e.worker(Config{Senders: senders, Poll: 20 * time.Millisecond, Backoff: time.Hour, MaxBackoff: time.Hour,
		PauseMin: 20 * time.Millisecond, PauseMax: 100 * time.Millisecond})
	run(t, w)
	eventually(t, 10*time.Second, "no probes during the outage", func() bool { return snd.callCount() >= 5 })
	down.Store(false)
	delivered := func() int {
		snd.mu.Lock()
		defer snd.mu.Unlock()
		n := 0
		for _, c := range snd.calls {
			n += len(c)
		}
		return n
	}
	before := delivered()
	took := eventually(t, 15*time.Second, "waiting deliveries were not resent after the platform recovered", func() bool {
		return delivered()-before >= orders
	})
	t.Logf("drained %d deliveries %s after the platform recovered", orders, took)
	mu.Lock()
	defer mu.Unlock()
	// The first batch finds the outage; every later try is a one-delivery probe.
	for i, n := range outageSizes[1:] {
		if n != 1 {
			t.Fatalf("during the outage call %d carried %d deliveries, want probes of 1 (%v)", i+1, n, outageSizes)
		}
	}
}

// TestRetryAfterIsHonouredExactly: a throttled delivery is retried at the
// instant the platform named, not at the poll or its own backoff: with a
// one-minute poll and one-hour backoff, a 200 ms Retry-After is met.
func TestRetryAfterIsHonouredExactly(t *testing.T) {
	e := newEnv(t)
	var at []time.Time
	var mu sync.Mutex
	snd := &sender{answer: func(call int, convs []mapping.Conversion) []platforms.Result {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if call == 0 {
			return all(len(convs), platforms.Throttled(429, "", "slow down", 200*time.Millisecond))
		}
		return all(len(convs), nil)
	}}
	senders := map[string]platforms.Sender{"fake": snd}
	shop := e.shop(t)
	e.dest(t, shop, "fake")
	e.orders(t, shop, 1000, 1, senders)
	w := e.worker(Config{Senders: senders, Poll: time.Minute, Backoff: time.Hour, MaxBackoff: time.Hour})
	run(t, w)
	eventually(t, 10*time.Second, "the throttled delivery was not retried before the next poll", func() bool { return snd.callCount() == 2 })
	mu.Lock()
	defer mu.Unlock()
	if gap := at[1].Sub(at[0]); gap < 200*time.Millisecond {
		t.Errorf("retried after %s, before Retry-After (200ms)", gap)
	}
}

// TestRetryAfterReplacesBackoff: on a later attempt the backoff would be
// minutes; the platform's 30 s is what counts.
func TestRetryAfterReplacesBackoff(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		if call < 3 {
			return all(len(convs), platforms.Transient(500, "", "internal error"))
		}
		return all(len(convs), platforms.Throttled(429, "", "slow down", 30*time.Second))
	})
	ids := f.orders(t, 1, time.Hour)
	for i := 0; i < 4; i++ {
		f.clk.Add(2 * time.Hour)
		if _, err := f.st.RecoverDestination(context.Background(), f.destID, f.clk.Now()); err != nil {
			t.Fatal(err)
		}
		f.drain()
	}
	d := f.delivery(t, ids[0])
	if d.Attempts != 4 || d.ErrorClass != "throttled" {
		t.Fatalf("delivery = %+v", d)
	}
	if got := d.NextAttemptAt.Sub(f.clk.Now()); got != 30*time.Second {
		t.Errorf("next attempt in %s, want exactly the Retry-After (30s)", got)
	}
}

// TestHungMetaTimesOutAtItsDeadline: against a Meta API that accepts the
// connection and never answers, the real Meta sender gives up after
// Meta's recommended 1.5 s (not the HTTP client's 30 s), and the
// destination pauses.
func TestHungMetaTimesOutAtItsDeadline(t *testing.T) {
	hung := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hung:
		}
	}))
	defer api.Close()
	defer close(hung)
	meta := platforms.NewMeta(platforms.Config{BaseURL: api.URL, Client: &http.Client{Timeout: 30 * time.Second}, Now: time.Now})
	senders := map[string]platforms.Sender{"meta": meta}
	e := newEnv(t)
	shop := e.shop(t)
	d, err := e.st.CreateDestination(context.Background(), store.Destination{ShopID: shop, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "1234567890", "access_token": "EAAB-test"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.orders(t, shop, 1000, 3, senders)
	w := e.worker(Config{Senders: senders})
	start := time.Now()
	w.drain(context.Background(), context.Background(), d.ID, time.Time{})
	took := time.Since(start)
	if took < 1500*time.Millisecond || took > 10*time.Second {
		t.Errorf("a hung Meta held the send %s, want about 1.5 s", took)
	}
	dest, err := e.st.Destination(context.Background(), d.ID)
	if err != nil || dest.Failures != 1 || !dest.PausedUntil.After(start) {
		t.Errorf("destination after a hung batch = %+v, %v; want paused", dest, err)
	}
	evs, err := e.st.Events(context.Background(), store.EventFilter{ShopID: shop})
	if err != nil || len(evs) != 3 {
		t.Fatalf("events = %v, %v", evs, err)
	}
	if del := evs[0].Deliveries[0]; del.Status != store.DeliveryRetrying || !strings.Contains(del.LastError, "no answer within 1.503s") {
		t.Errorf("delivery = %+v; want retrying, with the timeout named", del)
	}
}
