package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sender is a scriptable platform: answer decides each call's results.
type sender struct {
	mu     sync.Mutex
	calls  [][]string // order ids per call
	answer func(call int, convs []mapping.Conversion) []platforms.Result
}

func (s *sender) Name() string                          { return "fake" }
func (s *sender) Fields() []platforms.Field             { return nil }
func (s *sender) BatchSize() int                        { return 10 }
func (s *sender) MaxAge() time.Duration                 { return 7 * 24 * time.Hour }
func (s *sender) TestMode(d platforms.Destination) bool { return false }
func (s *sender) Render(platforms.Destination, []mapping.Conversion) (platforms.Request, error) {
	return platforms.Request{}, nil
}
func (s *sender) Send(ctx context.Context, d platforms.Destination, convs []mapping.Conversion) []platforms.Result {
	s.mu.Lock()
	call := len(s.calls)
	ids := make([]string, len(convs))
	for i, c := range convs {
		ids[i] = c.OrderID
	}
	s.calls = append(s.calls, ids)
	s.mu.Unlock()
	return s.answer(call, convs)
}

func (s *sender) callCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.calls) }

func all(n int, err error) []platforms.Result {
	out := make([]platforms.Result, n)
	for i := range out {
		out[i] = platforms.Result{Payload: json.RawMessage(`{"event":1}`), StatusCode: 200, Response: `{"ok":true}`, Err: err,
			Match: mapping.Match{Email: true}.Score()}
	}
	return out
}

type fixture struct {
	st     *store.Store
	clk    *clock
	snd    *sender
	w      *Worker
	shopID int64
	destID int64
}

func newFixture(t *testing.T, answer func(call int, convs []mapping.Conversion) []platforms.Result) *fixture {
	t.Helper()
	st := storetest.SQLite(t)
	clk := &clock{t: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
	snd := &sender{answer: answer}
	ctx := context.Background()
	shop, err := st.CreateShop(ctx, store.Shop{Name: "s", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	dest, err := st.CreateDestination(ctx, store.Destination{ShopID: shop.ID, Platform: "fake", Enabled: true, Credentials: map[string]string{"token": "t"}}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := New(Config{
		Store: st, Senders: map[string]platforms.Sender{"fake": snd}, Metrics: metrics.New(prometheus.NewRegistry()),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Owner: "test", Now: clk.Now, Poll: 5 * time.Millisecond,
		Backoff: 30 * time.Second, MaxBackoff: time.Hour,
	})
	return &fixture{st: st, clk: clk, snd: snd, w: w, shopID: shop.ID, destID: dest.ID}
}

// orders commits n paid orders whose event happened age ago.
func (f *fixture) orders(t *testing.T, n int, age time.Duration) []int64 {
	t.Helper()
	var items []store.Incoming
	for i := 0; i < n; i++ {
		id := fmt.Sprint(1000 + i)
		items = append(items, store.Incoming{ShopID: f.shopID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: f.clk.Now(),
			Webhook: mapping.Webhook{DeliveryID: "d" + id, OrderID: id, Outcome: mapping.OutcomeConversion, Conversion: &mapping.Conversion{
				EventID: id, EventName: mapping.EventPurchase, EventTime: f.clk.Now().Add(-age), OrderID: id,
				Value: decimal.RequireFromString("9.99"), Currency: "USD", User: mapping.User{Email: "a@example.com"}}}})
	}
	res, err := f.st.CommitBatch(context.Background(), items, NewRouting(f.w.cfg.Senders))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.EventID
	}
	return ids
}

func (f *fixture) drain() {
	f.w.drain(context.Background(), context.Background(), f.destID, time.Time{})
}

func (f *fixture) delivery(t *testing.T, eventID int64) store.Delivery {
	t.Helper()
	ev, err := f.st.Event(context.Background(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Deliveries) != 1 {
		t.Fatalf("event %d has %d deliveries", eventID, len(ev.Deliveries))
	}
	return ev.Deliveries[0]
}

func TestDeliveredOnce(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) })
	ids := f.orders(t, 1, time.Hour)
	f.drain()
	f.drain()
	d := f.delivery(t, ids[0])
	if d.Status != store.DeliveryDelivered || d.Attempts != 1 || len(d.History) != 1 || d.Payload != `{"event":1}` || d.Match == nil || !d.Match.Email {
		t.Errorf("delivery = %+v", d)
	}
	if n := f.snd.callCount(); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
}

func TestTransientRetriesWithBackoffThenDelivers(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		if call == 0 {
			return all(len(convs), platforms.Transient(500, "", "internal error"))
		}
		return all(len(convs), nil)
	})
	ids := f.orders(t, 1, time.Hour)
	f.drain()
	d := f.delivery(t, ids[0])
	if d.Status != store.DeliveryRetrying || d.ErrorClass != "transient" || !strings.Contains(d.LastError, "http 500") {
		t.Fatalf("after a 500: %+v", d)
	}
	wait := d.NextAttemptAt.Sub(f.clk.Now())
	if wait < 15*time.Second || wait > 30*time.Second {
		t.Errorf("first retry in %v, want between 15s and 30s (30s backoff with jitter)", wait)
	}
	f.drain() // not due yet
	if n := f.snd.callCount(); n != 1 {
		t.Fatalf("retried before its time: %d calls", n)
	}
	f.clk.Add(31 * time.Second)
	f.drain()
	d = f.delivery(t, ids[0])
	if d.Status != store.DeliveryDelivered || d.Attempts != 2 || len(d.History) != 2 || d.History[0].Outcome != store.DeliveryRetrying {
		t.Errorf("after the retry: %+v", d)
	}
}

// TestRefusedBeforeSendingIsSkipped: a conversion the sender refuses
// without sending (nothing to match on) is skipped, not failed; one the
// platform refused (HTTP 400) is failed.
func TestRefusedBeforeSendingIsSkipped(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		out := make([]platforms.Result, len(convs))
		out[0].Err = platforms.Invalid(0, "no_identifiers", "nothing the platform can match on")
		for i := 1; i < len(out); i++ {
			out[i] = platforms.Result{StatusCode: 400, Err: platforms.Invalid(400, "bad", "refused by the platform")}
		}
		return out
	})
	ids := f.orders(t, 2, time.Hour)
	f.drain()
	if d := f.delivery(t, ids[0]); d.Status != store.DeliverySkipped || !strings.Contains(d.LastError, "nothing the platform can match on") {
		t.Errorf("refused before sending: %+v, want skipped with the reason", d)
	}
	if d := f.delivery(t, ids[1]); d.Status != store.DeliveryFailed {
		t.Errorf("refused by the platform: %+v, want failed", d)
	}
}

func TestInvalidFailsAtOnce(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		return all(len(convs), platforms.Invalid(400, "100", "Invalid parameter"))
	})
	ids := f.orders(t, 1, time.Hour)
	f.drain()
	f.clk.Add(24 * time.Hour)
	f.drain()
	d := f.delivery(t, ids[0])
	if d.Status != store.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "Invalid parameter") || d.ErrorClass != "invalid" {
		t.Errorf("delivery = %+v", d)
	}
}

func TestThrottledWaitsRetryAfterForTheWholeDestination(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		if call == 0 {
			return all(len(convs), platforms.Throttled(429, "17", "rate limited", 10*time.Minute))
		}
		return all(len(convs), nil)
	})
	ids := f.orders(t, 1, time.Hour)
	f.drain()
	d := f.delivery(t, ids[0])
	if d.Status != store.DeliveryRetrying || d.ErrorClass != "throttled" || d.NextAttemptAt.Sub(f.clk.Now()) < 10*time.Minute {
		t.Fatalf("after 429: %+v", d)
	}
	more := f.orders(t, 3, time.Hour)[1:] // order 1000 is a duplicate
	f.clk.Add(time.Minute)
	due, err := f.st.DueDestinations(context.Background(), f.clk.Now(), 10)
	if err != nil || len(due) != 0 {
		t.Errorf("throttled destination due after 1m: %v %v", due, err)
	}
	f.clk.Add(10 * time.Minute)
	f.drain()
	for _, id := range append(ids, more...) {
		if d := f.delivery(t, id); d.Status != store.DeliveryDelivered {
			t.Errorf("event %d after the wait: %+v", id, d)
		}
	}
}

func TestAuthFailureParksUntilAProbeIsAccepted(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		if call < 2 {
			return all(len(convs), platforms.Auth(401, "190", "Error validating access token"))
		}
		return all(len(convs), nil)
	})
	ids := f.orders(t, 3, time.Hour)
	f.drain()
	for _, id := range ids {
		d := f.delivery(t, id)
		if d.Status != store.DeliveryWaitingCredentials || !d.Parked || d.ErrorClass != "auth" || !strings.Contains(d.LastError, "access token") {
			t.Errorf("after 401: %+v", d)
		}
	}
	dest, err := f.st.Destination(context.Background(), f.destID)
	if err != nil || dest.AuthFailedAt.IsZero() || !strings.Contains(dest.AuthError, "access token") {
		t.Fatalf("destination = %+v, %v; want flagged", dest, err)
	}
	steps := []struct {
		wait  time.Duration
		calls int // calls made in all, after this step
	}{
		{time.Minute, 1},      // no probe before the first pause (5 min) ends
		{5 * time.Minute, 2},  // the probe: one delivery, refused again
		{6 * time.Minute, 2},  // the next pause is twice as long
		{10 * time.Minute, 4}, // the probe is accepted; the rest follows at once
	}
	for i, s := range steps {
		f.clk.Add(s.wait)
		f.drain()
		if n := f.snd.callCount(); n != s.calls {
			t.Fatalf("step %d: %d calls, want %d (calls %v)", i, n, s.calls, f.snd.calls)
		}
	}
	var sizes []int
	for _, c := range f.snd.calls {
		sizes = append(sizes, len(c))
	}
	if fmt.Sprint(sizes) != "[3 1 1 2]" {
		t.Errorf("calls = %v; want the batch, one probe refused, one accepted, then the rest", f.snd.calls)
	}
	for _, id := range ids {
		if d := f.delivery(t, id); d.Status != store.DeliveryDelivered {
			t.Errorf("after the accepted probe: %+v", d)
		}
	}
	if dest, err := f.st.Destination(context.Background(), f.destID); err != nil || !dest.AuthFailedAt.IsZero() || dest.Failures != 0 {
		t.Errorf("destination after recovery = %+v, %v", dest, err)
	}
}

// TestSaveWithTheSameCredentialsRetriesAtOnce: the merchant fixed the
// token on the platform's side and saves the destination unchanged.
func TestSaveWithTheSameCredentialsRetriesAtOnce(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		if call == 0 {
			return all(len(convs), platforms.Auth(401, "190", "Error validating access token"))
		}
		return all(len(convs), nil)
	})
	ids := f.orders(t, 2, time.Hour)
	f.drain()
	dest, err := f.st.Destination(context.Background(), f.destID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.UpdateDestination(context.Background(), dest, false, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	due, err := f.st.DueDestinations(context.Background(), f.clk.Now(), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("after saving, due = %v, %v; want the destination", due, err)
	}
	f.drain()
	for _, id := range ids {
		if d := f.delivery(t, id); d.Status != store.DeliveryDelivered {
			t.Errorf("after saving: %+v", d)
		}
	}
}

func TestTooOldIsNeverSentAndRetriesStopAtTheWindow(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		return all(len(convs), platforms.Transient(503, "", "unavailable"))
	})
	old := f.orders(t, 1, 8*24*time.Hour)
	f.drain()
	// Postback's choice, not the platform's refusal: skipped, with why.
	if d := f.delivery(t, old[0]); d.Status != store.DeliverySkipped || d.ErrorClass != "too_old" || !strings.Contains(d.LastError, "window") {
		t.Errorf("8-day-old event: %+v, want skipped (too_old)", d)
	}
	if n := f.snd.callCount(); n != 0 {
		t.Errorf("an event past the window was sent (%d calls)", n)
	}
	// An event 10 seconds from its window fails instead of retrying.
	f2 := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		return all(len(convs), platforms.Transient(503, "", "unavailable"))
	})
	edge := f2.orders(t, 1, 7*24*time.Hour-10*time.Second)
	f2.drain()
	if d := f2.delivery(t, edge[0]); d.Status != store.DeliveryFailed || !strings.Contains(d.LastError, "gave up") {
		t.Errorf("event at the window's edge: %+v", d)
	}
}

func TestBatchesUpToTheLimit(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) })
	f.orders(t, 25, time.Hour)
	f.drain()
	var sizes []int
	for _, c := range f.snd.calls {
		sizes = append(sizes, len(c))
	}
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Errorf("batch sizes = %v, want [10 10 5]", sizes)
	}
}

// TestShutdownFinishesInFlightSends cancels Run while a send is on the
// wire: the send completes, is recorded, and leases are released.
func TestShutdownFinishesInFlightSends(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		close(started)
		<-release
		return all(len(convs), nil)
	})
	ids := f.orders(t, 1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.w.Run(ctx) }()
	f.w.Notify()
	<-started
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := f.delivery(t, ids[0]); d.Status != store.DeliveryDelivered {
		t.Errorf("in-flight send after shutdown: %+v", d)
	}
}

// TestReplicasOnPostgresNeverSendTwice runs two workers with different
// owners on one PostgreSQL database, as two replicas would: every delivery
// is sent by exactly one of them.
func TestReplicasOnPostgresNeverSendTwice(t *testing.T) {
	st := storetest.Postgres(t)
	if st == nil {
		t.Skip("POSTBACK_TEST_POSTGRES is not set: the replica test needs PostgreSQL")
	}
	ctx := context.Background()
	now := time.Now().UTC()
	shop, err := st.CreateShop(ctx, store.Shop{Name: "s", Source: mapping.SourceShopify, SigningSecret: "x", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, now)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[string][]string{}
	newSender := func(owner string) *sender {
		return &sender{answer: func(call int, convs []mapping.Conversion) []platforms.Result {
			mu.Lock()
			for _, c := range convs {
				sent[c.OrderID] = append(sent[c.OrderID], owner)
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // a platform takes a moment
			return all(len(convs), nil)
		}}
	}
	a, b := newSender("a"), newSender("b")
	// Several destinations, so both replicas have work at once.
	for i := 0; i < 4; i++ {
		if _, err := st.CreateDestination(ctx, store.Destination{ShopID: shop.ID, Platform: "fake", Enabled: true, Credentials: map[string]string{"t": "t"}}, now); err != nil {
			t.Fatal(err)
		}
	}
	const orders = 150
	var items []store.Incoming
	for i := 0; i < orders; i++ {
		id := fmt.Sprint(5000 + i)
		items = append(items, store.Incoming{ShopID: shop.ID, Source: mapping.SourceShopify, Topic: "orders/paid", ReceivedAt: now,
			Webhook: mapping.Webhook{DeliveryID: "d" + id, OrderID: id, Outcome: mapping.OutcomeConversion, Conversion: &mapping.Conversion{
				EventID: id, EventName: mapping.EventPurchase, EventTime: now, OrderID: id, Value: decimal.RequireFromString("1"), Currency: "USD"}}})
	}
	routing := NewRouting(map[string]platforms.Sender{"fake": a})
	if _, err := st.CommitBatch(ctx, items, routing); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for owner, snd := range map[string]*sender{"a": a, "b": b} {
		w := New(Config{Store: st, Senders: map[string]platforms.Sender{"fake": snd}, Metrics: metrics.New(prometheus.NewRegistry()),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Owner: owner, Poll: 5 * time.Millisecond})
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(runCtx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := 0
		for _, owners := range sent {
			n += len(owners)
		}
		mu.Unlock()
		if n >= orders*4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	byOwner := map[string]int{}
	for order, owners := range sent {
		if len(owners) != 4 {
			t.Errorf("order %s sent %d times (by %v), want once per destination (4)", order, len(owners), owners)
		}
		for _, o := range owners {
			byOwner[o]++
		}
	}
	if len(sent) != orders {
		t.Errorf("%d orders sent, want %d", len(sent), orders)
	}
	if byOwner["a"] == 0 || byOwner["b"] == 0 {
		t.Logf("work split %v (one replica did everything; the test still proves no double send)", byOwner)
	}
}

// adjuster is a sender that also takes refund adjustments.
type adjuster struct {
	sender
	adjs []platforms.Adjustment
}

func (a *adjuster) Adjust(ctx context.Context, d platforms.Destination, adjs []platforms.Adjustment) []platforms.Result {
	a.mu.Lock()
	a.adjs = append(a.adjs, adjs...)
	a.mu.Unlock()
	return all(len(adjs), nil)
}

func TestRefundAdjustmentWaitsForItsConversionThenSends(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) })
	adj := &adjuster{sender: sender{answer: func(call int, convs []mapping.Conversion) []platforms.Result { return all(len(convs), nil) }}}
	f.w.cfg.Senders["fake"] = adj
	routing := NewRouting(f.w.cfg.Senders)
	ctx := context.Background()
	order := f.orders(t, 1, time.Hour)
	refund := store.Incoming{ShopID: f.shopID, Source: mapping.SourceShopify, Topic: "refunds/create", ReceivedAt: f.clk.Now(),
		Webhook: mapping.Webhook{DeliveryID: "r1", OrderID: "1000", Outcome: mapping.OutcomeRefund, Refunds: []mapping.Refund{{
			RefundID: "rf1", OrderID: "1000", Amount: decimal.RequireFromString("4.00"), Currency: "USD", Time: f.clk.Now()}}}}
	// The refund arrives while the conversion is still pending: its
	// adjustment is queued, and must wait for the conversion to go first.
	res, err := f.st.CommitBatch(ctx, []store.Incoming{refund}, routing)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res[0].Reason, "adjustment queued for fake") {
		t.Fatalf("refund = %+v", res[0])
	}
	// One drain sends the conversion; the adjustment claimed alongside it
	// waits a minute for it, then goes.
	f.drain()
	if d := f.delivery(t, order[0]); d.Status != store.DeliveryDelivered {
		t.Fatalf("conversion = %+v", d)
	}
	f.clk.Add(2 * time.Minute)
	f.drain()
	if len(adj.adjs) != 1 || adj.adjs[0].Remaining.String() != "5.99" || adj.adjs[0].Refund.Amount.String() != "4" || adj.adjs[0].Original.OrderID != "1000" {
		t.Fatalf("adjustments sent = %+v", adj.adjs)
	}
	ev, err := f.st.Event(ctx, res[0].EventID)
	if err != nil || len(ev.Deliveries) != 1 || ev.Deliveries[0].Kind != store.KindAdjustment || ev.Deliveries[0].Status != store.DeliveryDelivered {
		t.Errorf("refund event deliveries = %+v, %v", ev.Deliveries, err)
	}
}

// TestWaitingCredentialsMetrics: /metrics shows how many deliveries wait
// for credentials and how long until the first one's window closes.
func TestWaitingCredentialsMetrics(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		return all(len(convs), platforms.Auth(401, "190", "Error validating access token"))
	})
	f.orders(t, 2, time.Hour)
	f.drain()
	f.w.chores(context.Background())
	m := f.w.cfg.Metrics
	if n := gauge(t, m.WaitingCredentials.WithLabelValues("fake")); n != 2 {
		t.Errorf("waiting_credentials gauge = %v, want 2", n)
	}
	// The orders happened an hour ago, in a 7-day window.
	if s := gauge(t, m.WindowSeconds.WithLabelValues("fake")); s != (7*24*time.Hour - time.Hour).Seconds() {
		t.Errorf("window gauge = %vs, want %vs", s, (7*24*time.Hour - time.Hour).Seconds())
	}
}

func gauge(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestVersionSunsetParksWithTheFix(t *testing.T) {
	f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
		if call == 0 {
			return all(len(convs), platforms.VersionError("meta", 400, "2635", "v22.0"))
		}
		return all(len(convs), nil)
	})
	ids := f.orders(t, 2, time.Hour)
	f.drain()
	for _, id := range ids {
		d := f.delivery(t, id)
		if d.Status != store.DeliveryWaitingCredentials || !d.Parked || !strings.Contains(d.LastError, "v22.0") ||
			!strings.Contains(d.LastError, "api_version") || strings.Contains(d.LastError, "new credentials") {
			t.Errorf("after a version sunset: %+v; want parked, naming the version and the fix", d)
		}
	}
	f.clk.Add(6 * time.Hour)
	f.drain()
	if n := f.snd.callCount(); n != 1 {
		t.Fatalf("parked deliveries were sent again (%d calls)", n)
	}
}

// TestBatchClaimedAheadIsGivenBackWhenThePlatformPushesBack: while a
// batch is on the wire the next is claimed; when the platform then
// throttles (or refuses credentials), the batch claimed ahead is not sent
// and is given back untouched, every request went one at a time in
// order, and nothing was sent twice.
func TestBatchClaimedAheadIsGivenBackWhenThePlatformPushesBack(t *testing.T) {
	tests := []struct {
		name    string
		refusal error
	}{
		{"throttled", platforms.Throttled(429, "17", "rate limited", 10*time.Minute)},
		{"credentials refused", platforms.Auth(401, "190", "token expired")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inFlight, most atomic.Int32
			f := newFixture(t, func(call int, convs []mapping.Conversion) []platforms.Result {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(20 * time.Millisecond) // the next batch is claimed meanwhile
				if call == 1 {
					return all(len(convs), tt.refusal)
				}
				return all(len(convs), nil)
			})
			ids := f.orders(t, 35, time.Hour)
			f.drain()
			if got := f.snd.callCount(); got != 2 {
				t.Fatalf("%d requests, want 2 (the second pushed back)", got)
			}
			if most.Load() != 1 {
				t.Errorf("%d requests on the wire at once, want 1", most.Load())
			}
			sent := map[string]int{}
			for _, c := range f.snd.calls {
				for _, id := range c {
					sent[id]++
				}
			}
			var delivered, refused, untouched int
			for _, id := range ids {
				d := f.delivery(t, id)
				switch {
				case d.Status == store.DeliveryDelivered:
					delivered++
				case d.Attempts == 1:
					refused++
				case d.Attempts == 0 && len(d.History) == 0: // pending, or waiting for credentials with the rest
					untouched++
				default:
					t.Errorf("event %d: %+v", id, d)
				}
			}
			if delivered != 10 || refused != 10 || untouched != 15 {
				t.Errorf("delivered %d, pushed back %d, untouched %d; want 10, 10, 15", delivered, refused, untouched)
			}
			for id, n := range sent {
				if n > 1 {
					t.Errorf("order %s sent %d times", id, n)
				}
			}
			if tt.name == "throttled" {
				// Given back, not left leased: another worker may take them
				// now (the pushed-back ones wait for their retry).
				c, err := f.st.Claim(context.Background(), f.destID, "other", 100, f.clk.Now(), time.Minute)
				if err != nil || len(c) != 15 {
					t.Errorf("another worker claimed %d, %v; want the 15 untouched", len(c), err)
				}
			}
		})
	}
}
