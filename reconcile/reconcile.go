// Package reconcile compares what each connected store sold with the
// webhooks Postback received, and backfills the orders whose webhook never
// came through the same mapping and delivery path, marked with origin
// reconciliation.
//
// It is its own package rather than part of delivery because it drives the
// store-side connectors (listing orders, parsing them as webhooks) and the
// ingest path, while delivery drives the platforms; neither needs the
// other's dependencies.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// Defaults for Config.
const (
	DefaultInterval = 15 * time.Minute
	// DefaultWindow is how far back each run looks.
	DefaultWindow = 72 * time.Hour
	// DefaultGrace leaves the newest minutes to webhooks still in flight.
	DefaultGrace = 5 * time.Minute
	// maxBackoff caps the wait after repeated store API failures.
	maxBackoff = 6 * time.Hour
	// runTimeout bounds one scheduled run.
	runTimeout = 5 * time.Minute
)

// Config is what a Reconciler needs.
type Config struct {
	Store      *store.Store
	Routing    store.Routing
	Connectors map[mapping.Source]connectors.Connector
	Listers    map[mapping.Source]connectors.OrderLister
	// Registrars manage each store's webhook subscriptions (optional).
	Registrars map[mapping.Source]connectors.Registrar
	// PublicURL is the base of the shops' webhook URLs.
	PublicURL string
	// Notify wakes the delivery worker after a backfill queued deliveries.
	Notify   func()
	Log      *slog.Logger
	Interval time.Duration
	// OnDemandOnly turns scheduled reconciliation off (it runs only when
	// asked); the hourly webhook subscription check goes on.
	OnDemandOnly bool
	Window       time.Duration
	Grace        time.Duration
	Now          func() time.Time
	// Jitter returns a random extra delay up to d (default uniform).
	Jitter func(d time.Duration) time.Duration
}

// Reconciler runs reconciliation for connected shops.
type Reconciler struct {
	cfg Config
	// beforeCommit, when set, runs between the look-up of converted orders
	// and the commit (tests: a webhook arriving mid-run).
	beforeCommit func()
}

// New returns a Reconciler with defaults filled in.
func New(cfg Config) *Reconciler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Grace < 0 {
		cfg.Grace = 0
	} else if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Notify == nil {
		cfg.Notify = func() {}
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}
	}
	return &Reconciler{cfg: cfg}
}

// Credentials assembles what the store's API needs from a shop and its
// store API connection.
func Credentials(sh store.Shop, api store.StoreAPI) connectors.StoreCredentials {
	c := api.Credentials
	return connectors.StoreCredentials{
		StoreURL: api.URL, AdminAPIToken: c["admin_api_token"], APISecret: c["api_secret"],
		ConsumerKey: c["consumer_key"], ConsumerSecret: c["consumer_secret"], StripeAPIKey: sh.StripeAPIKey,
	}
}

// Connected reports whether a shop has what its store's API needs.
func Connected(sh store.Shop, api store.StoreAPI) bool {
	c := Credentials(sh, api)
	switch sh.Source {
	case mapping.SourceShopify:
		return c.StoreURL != "" && c.AdminAPIToken != ""
	case mapping.SourceWooCommerce:
		return c.StoreURL != "" && c.ConsumerKey != "" && c.ConsumerSecret != ""
	case mapping.SourceStripe:
		return c.StripeAPIKey != ""
	}
	return false
}

// Run reconciles one shop now and records the run. trigger is "manual"
// or "schedule". A store API failure is recorded on the shop (status and
// backoff) and in the run, and returned.
func (r *Reconciler) Run(ctx context.Context, shopID int64, trigger string) (store.ReconcileRun, error) {
	now := r.cfg.Now().UTC()
	end := now.Add(-r.cfg.Grace)
	run := store.ReconcileRun{ShopID: shopID, Trigger: trigger, StartedAt: now, WindowEnd: end, WindowStart: end.Add(-r.cfg.Window)}
	err := r.run(ctx, &run)
	run.FinishedAt = r.cfg.Now().UTC()
	if err != nil {
		run.Error = err.Error()
	}
	saved, serr := r.cfg.Store.SaveReconcileRun(context.WithoutCancel(ctx), run)
	if serr != nil {
		return run, errors.Join(err, serr)
	}
	return saved, err
}

func (r *Reconciler) run(ctx context.Context, run *store.ReconcileRun) error {
	st := r.cfg.Store
	sh, err := st.Shop(ctx, run.ShopID)
	if err != nil {
		return err
	}
	api, err := st.StoreAPI(ctx, sh.ID)
	if err != nil {
		return err
	}
	lister, conn := r.cfg.Listers[sh.Source], r.cfg.Connectors[sh.Source]
	if lister == nil || conn == nil {
		return fmt.Errorf("no store API client for %s", sh.Source)
	}
	if !Connected(sh, api) {
		return connectors.ErrStoreNotConnected
	}
	orders, err := lister.ListOrders(ctx, Credentials(sh, api), run.WindowStart, run.WindowEnd, sh.Rules.Trigger)
	if err != nil {
		r.recordFailure(ctx, sh.ID, api, err)
		return err
	}
	if err := st.SetStoreAPIStatus(ctx, sh.ID, store.StoreAPIOK, "", time.Time{}, r.cfg.Now()); err != nil {
		return err
	}
	return r.backfill(ctx, sh, conn, orders, run)
}

// backfill maps each listed order as its webhook would have been mapped,
// and commits the conversions not yet converted. The commit deduplicates
// by the same order keys as webhooks, in the same transaction, so a
// webhook arriving during the run cannot make a second conversion. An
// order older than a destination's acceptance window is recorded all the
// same, its delivery to that destination skipped too_old by the commit.
func (r *Reconciler) backfill(ctx context.Context, sh store.Shop, conn connectors.Connector, orders []connectors.StoreOrder, run *store.ReconcileRun) error {
	type cand struct {
		wh   mapping.Webhook
		body []byte
	}
	var cands []cand
	var keys []string
	// One purchase can be listed as several objects (a Stripe Checkout
	// Session, its PaymentIntent and its invoice), which share order keys:
	// the first listed stands for the purchase, as the first webhook does.
	seen := map[string]bool{}
	for _, o := range orders {
		wh, err := conn.Parse(o.Header, o.Body, sh.Rules)
		if err != nil {
			r.cfg.Log.WarnContext(ctx, "reconcile: order could not be mapped", slog.Int64("shop_id", sh.ID),
				slog.String("order_id", o.ID), slog.String("error", err.Error()))
			continue
		}
		if wh.Outcome != mapping.OutcomeConversion || wh.Conversion == nil {
			continue // not (or no longer) in the shop's trigger state
		}
		own := append([]string{wh.OrderID}, wh.OrderAliases...)
		if anyDone(seen, own) {
			continue
		}
		for _, k := range own {
			if k != "" {
				seen[k] = true
			}
		}
		// No store delivery id: nothing must claim one a webhook could
		// later bring.
		wh.DeliveryID = ""
		cands = append(cands, cand{wh, o.Body})
		keys = append(keys, own...)
	}
	run.Checked = len(cands)
	done, err := r.cfg.Store.ConvertedOrders(ctx, sh.ID, keys)
	if err != nil {
		return err
	}
	windows, err := r.windows(ctx, sh.ID)
	if err != nil {
		return err
	}
	now := r.cfg.Now().UTC()
	var batch []store.Incoming
	var tooOld []bool
	for _, c := range cands {
		if done[c.wh.OrderID] || anyDone(done, c.wh.OrderAliases) {
			continue
		}
		run.Missing++
		batch = append(batch, store.Incoming{
			ShopID: sh.ID, Source: sh.Source, Topic: c.wh.Topic, Webhook: c.wh, Body: c.body, ReceivedAt: now,
			Origin: store.OriginReconciliation,
		})
		tooOld = append(tooOld, pastAll(windows, now.Sub(c.wh.Conversion.EventTime)))
	}
	if len(batch) == 0 {
		return nil
	}
	if r.beforeCommit != nil {
		r.beforeCommit()
	}
	res, err := r.cfg.Store.CommitBatch(ctx, batch, r.cfg.Routing)
	if err != nil {
		return err
	}
	for i, c := range res {
		switch {
		case c.Status != store.StatusAccepted:
		case tooOld[i]:
			// Recorded, and skipped too_old for every destination.
			run.TooOld++
		default:
			run.Backfilled++
		}
	}
	r.cfg.Notify()
	return nil
}

func anyDone(done map[string]bool, keys []string) bool {
	for _, k := range keys {
		if done[k] {
			return true
		}
	}
	return false
}

// windows are the acceptance windows of the shop's enabled destinations.
func (r *Reconciler) windows(ctx context.Context, shopID int64) ([]time.Duration, error) {
	dests, err := r.cfg.Store.Destinations(ctx, shopID)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for _, d := range dests {
		if d.Enabled {
			out = append(out, r.cfg.Routing.MaxAge(d.Platform))
		}
	}
	return out, nil
}

// pastAll reports whether an event age is past every window (false with
// no destination: nothing is skipped, there is nothing to send to).
func pastAll(windows []time.Duration, age time.Duration) bool {
	for _, w := range windows {
		if age <= w {
			return false
		}
	}
	return len(windows) > 0
}

// recordFailure sets the shop's store API status from err and holds the
// scheduled runs back: Retry-After when throttled, else exponentially
// with the number of failures in a row.
func (r *Reconciler) recordFailure(ctx context.Context, shopID int64, api store.StoreAPI, err error) {
	now := r.cfg.Now()
	status := store.StoreAPIError
	wait := min(time.Minute<<min(api.Failures, 20), maxBackoff)
	var th *connectors.ThrottledError
	switch {
	case errors.As(err, &th):
		status, wait = store.StoreAPIThrottled, max(th.RetryAfter, time.Second)
	case errors.Is(err, connectors.ErrStoreAuth):
		status = store.StoreAPIAuthFailed
	case errors.Is(err, connectors.ErrStoreUnavailable):
		status = store.StoreAPIUnreachable
	}
	if serr := r.cfg.Store.SetStoreAPIStatus(context.WithoutCancel(ctx), shopID, status, err.Error(), now.Add(wait), now); serr != nil {
		r.cfg.Log.ErrorContext(ctx, "record store API status", slog.Int64("shop_id", shopID), slog.String("error", serr.Error()))
	}
	r.cfg.Log.WarnContext(ctx, "reconcile: store API failed", slog.Int64("shop_id", shopID),
		slog.String("status", status), slog.String("error", err.Error()), slog.Duration("backoff", wait))
}

// Tick runs every connected shop whose reconciliation is due and that this
// replica claims, and the webhook checks due. It returns how many
// reconciliation runs it made.
func (r *Reconciler) Tick(ctx context.Context) int {
	apis, err := r.cfg.Store.ConnectedShops(ctx)
	if err != nil {
		r.cfg.Log.ErrorContext(ctx, "reconcile: list shops", slog.String("error", err.Error()))
		return 0
	}
	n := 0
	for _, api := range apis {
		if ctx.Err() != nil {
			return n
		}
		now := r.cfg.Now()
		if api.BackoffUntil.After(now) {
			continue
		}
		r.tickHealth(ctx, api)
		if r.cfg.OnDemandOnly || api.NextReconcileAt.After(now) {
			continue
		}
		next := now.Add(r.cfg.Interval + r.cfg.Jitter(r.cfg.Interval/10))
		ok, err := r.cfg.Store.ClaimReconcile(ctx, api.ShopID, now, next)
		if err != nil {
			r.cfg.Log.ErrorContext(ctx, "reconcile: claim", slog.String("error", err.Error()))
			continue
		}
		if !ok {
			continue // another replica has it
		}
		n++
		// A store that answers slowly holds up only its own run.
		rctx, cancel := context.WithTimeout(ctx, runTimeout)
		if _, err := r.Run(rctx, api.ShopID, "schedule"); err != nil && !errors.Is(err, connectors.ErrStoreNotConnected) {
			r.cfg.Log.WarnContext(ctx, "reconcile run failed", slog.Int64("shop_id", api.ShopID), slog.String("error", err.Error()))
		}
		cancel()
	}
	return n
}

// Loop calls Tick every minute (jittered) until ctx ends.
func (r *Reconciler) Loop(ctx context.Context) {
	for {
		t := time.NewTimer(time.Minute + r.cfg.Jitter(10*time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.Tick(ctx)
	}
}
