// Package delivery sends committed conversions to ad platforms: it claims
// due deliveries per destination, sends them in batches, classifies each
// outcome, and schedules retries. Several processes may run it on one
// PostgreSQL database; leases keep them from sending the same delivery.
//
// No destination, however broken, may delay another: destinations are
// served oldest-due first, each has at most one batch in flight, every
// send has its platform's deadline, a send still running after SlowAfter
// gives its slot back (so hung platforms cannot hold every slot), and a
// destination whose batch fails whole pauses (its breaker opens) until a
// single probe shows the platform is back, at which point everything it
// has waiting is due at once.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// Enricher completes a conversion before it is sent (for example Stripe
// line items fetched with the shop's API key). It must not fail the
// delivery: on error it returns the conversion as it was.
type Enricher func(ctx context.Context, shopID int64, c mapping.Conversion) mapping.Conversion

// Config wires a Worker.
type Config struct {
	Store   Store
	Senders map[string]platforms.Sender
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Owner names this process in leases; default host name + random.
	Owner string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Lease is how long a claim holds before another process may take it
	// (default 30 s). It is renewed every RenewEvery (default Lease/3)
	// while the batch is in flight, so it only runs out when the process
	// holding it died, and then its work moves within one Lease.
	Lease      time.Duration
	RenewEvery time.Duration
	// Concurrency is how many destinations send at once (default 8).
	Concurrency int
	// SlowAfter is how long a destination may hold one of those slots
	// (default Poll): a send still in flight then gives its slot to the
	// next destination and runs on as overtime, up to MaxOvertime such
	// sends (default 64), each bounded by its platform's send timeout.
	SlowAfter   time.Duration
	MaxOvertime int
	// PlatformLimit caps the batches on the wire to one platform (default
	// MaxOvertime/4), so that an outage of one platform, however many
	// destinations it has, never uses up the overtime the others need.
	PlatformLimit int
	// SendTimeouts overrides the per-platform deadline of one request
	// (see sendTimeouts).
	SendTimeouts map[string]time.Duration
	// Poll is how often due work is looked for when nothing wakes the
	// worker (default 1 s).
	Poll time.Duration
	// Backoff is the first retry delay of a delivery, doubled per attempt
	// (default 30 s), up to MaxBackoff (default 1 h).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// StatusDelay is how long after delivery a platform's own verdict is
	// first read back (default 5 minutes), StatusEvery how often after that
	// (default 10 minutes), until StatusGiveUp after delivery (default 24
	// hours); StatusPoll is how often due checks are looked for (default 1
	// minute).
	StatusDelay  time.Duration
	StatusEvery  time.Duration
	StatusGiveUp time.Duration
	StatusPoll   time.Duration
	// PauseMin and PauseMax bound a destination's pause after batches
	// failed whole: PauseMin after the first, doubling, at most PauseMax
	// (defaults 1 s and 15 s), so a platform's recovery is noticed within
	// PauseMax.
	PauseMin time.Duration
	PauseMax time.Duration
	// ProbeMin and ProbeMax space the probes of a destination whose
	// credentials were refused (defaults 5 min and 1 h).
	ProbeMin time.Duration
	ProbeMax time.Duration
	// StoreBackoff and StoreMaxBackoff bound the wait after a database
	// error (defaults 100 ms and 10 s).
	StoreBackoff    time.Duration
	StoreMaxBackoff time.Duration
	Enrich          Enricher
}

// Worker delivers conversions.
type Worker struct {
	cfg      Config
	wake     chan struct{}
	slots    chan struct{}
	overtime chan struct{}
	health   *storeHealth
	stopping atomic.Bool
	mu       sync.Mutex
	inflight map[int64]bool
	// platformOf remembers each destination's platform (learnt when it is
	// loaded) and onWire counts batches on the wire per platform.
	platformOf map[int64]string
	onWire     map[string]int
	// pausedUntil holds the destinations this worker paused, throttled
	// or parked, with when it wakes for them (see pauseUntil).
	pausedUntil map[int64]time.Time
}

// New returns a worker; start it with Run.
func New(cfg Config) *Worker {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def(&cfg.Lease, 30*time.Second)
	def(&cfg.RenewEvery, cfg.Lease/3)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.MaxOvertime <= 0 {
		cfg.MaxOvertime = 64
	}
	if cfg.PlatformLimit <= 0 {
		cfg.PlatformLimit = max(cfg.MaxOvertime/4, 1)
	}
	def(&cfg.Poll, time.Second)
	def(&cfg.SlowAfter, cfg.Poll)
	def(&cfg.Backoff, 30*time.Second)
	def(&cfg.MaxBackoff, time.Hour)
	def(&cfg.PauseMin, time.Second)
	def(&cfg.PauseMax, 15*time.Second)
	def(&cfg.ProbeMin, 5*time.Minute)
	def(&cfg.ProbeMax, time.Hour)
	def(&cfg.StoreBackoff, 100*time.Millisecond)
	def(&cfg.StoreMaxBackoff, 10*time.Second)
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.StatusDelay <= 0 {
		cfg.StatusDelay = 5 * time.Minute
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = 10 * time.Minute
	}
	if cfg.StatusGiveUp <= 0 {
		cfg.StatusGiveUp = 24 * time.Hour
	}
	if cfg.StatusPoll <= 0 {
		cfg.StatusPoll = time.Minute
	}
	return &Worker{
		cfg: cfg, wake: make(chan struct{}, 1), inflight: map[int64]bool{},
		platformOf: map[int64]string{}, onWire: map[string]int{}, pausedUntil: map[int64]time.Time{},
		slots: make(chan struct{}, cfg.Concurrency), overtime: make(chan struct{}, cfg.MaxOvertime),
		health: newStoreHealth(cfg.Log, cfg.Metrics, cfg.StoreBackoff, cfg.StoreMaxBackoff),
	}
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "postback"
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return host
	}
	return host + "-" + hex.EncodeToString(b)
}

// Notify wakes the worker: new deliveries were committed.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// NotifyFor wakes the worker for new deliveries of these destinations,
// unless none of them could start now: each is being drained already (a
// drain takes what was queued while it runs, and its end wakes the
// worker), or this worker paused it (its pause's end wakes the worker,
// see pauseUntil), or its platform has as many batches on the wire as it
// may (a drain's end wakes the worker). Otherwise the wake would only
// repeat the due-destinations query. Under a stream of webhooks that ran
// after every batch commit: 6% of the server's CPU in the load command's
// profile while drains ran (2026-12-03), and again 4.5% (SQLite) to 8%
// (PostgreSQL, two replicas) while the fake Meta's held requests timed
// out and its destination was paused.
func (w *Worker) NotifyFor(destinations []int64) {
	now := w.cfg.Now()
	w.mu.Lock()
	busy := true
	for _, id := range destinations {
		if !w.inflight[id] && !now.Before(w.pausedUntil[id]) && !w.wireFull(id) {
			busy = false
			break
		}
	}
	w.mu.Unlock()
	if !busy {
		w.Notify()
	}
}

// pauseUntil wakes the worker at t, when the pause (breaker, throttle or
// parked credentials) this worker gave destination id ends; until then,
// new deliveries to it do not wake the worker. Anything that resumes it
// sooner (saving the destination, another replica's probe) wakes the
// worker itself or is seen at the next poll, and a drain that starts
// forgets the pause.
func (w *Worker) pauseUntil(id int64, t time.Time) {
	w.mu.Lock()
	w.pausedUntil[id] = t
	w.mu.Unlock()
	w.wakeAt(t)
}

// wireFull reports whether the platform of destination id (if known) has
// as many batches on the wire as it may. w.mu must be held.
func (w *Worker) wireFull(id int64) bool {
	p, ok := w.platformOf[id]
	return ok && w.onWire[p] >= w.cfg.PlatformLimit
}

// wakeAt wakes the worker at t (a Retry-After or a pause running out), so
// that the wait is exactly what was asked, not rounded up to a poll.
func (w *Worker) wakeAt(t time.Time) {
	time.AfterFunc(max(t.Sub(w.cfg.Now()), 0), w.Notify)
}

// Run delivers until ctx is cancelled, then lets in-flight sends finish
// (their requests are not cut off), records them, and gives back its
// leases so another process can continue at once.
func (w *Worker) Run(ctx context.Context) error {
	// Sends run on a context that outlives ctx: shutdown stops claiming
	// new work but lets requests already on the wire be answered.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	var wg sync.WaitGroup
	chores := time.NewTicker(30 * time.Second)
	defer chores.Stop()
	status := time.NewTicker(w.cfg.StatusPoll)
	defer status.Stop()
	statusBusy := make(chan struct{}, 1) // one status round at a time
	timer := time.NewTimer(0)
	defer timer.Stop()
	w.chores(ctx)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-w.wake:
		case <-timer.C:
		case <-chores.C:
			w.chores(ctx)
		case <-status.C:
			select {
			case statusBusy <- struct{}{}:
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-statusBusy }()
					w.checkStatuses(ctx)
				}()
			default:
			}
		}
		if d := w.health.wait(); d > 0 {
			// The database is failing: leave it alone until the pause ends.
			timer.Reset(d)
			continue
		}
		w.dispatch(ctx, sendCtx, &wg)
		timer.Reset(w.cfg.Poll)
	}
	w.stopping.Store(true)
	wg.Wait()
	relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.cfg.Store.ReleaseLeases(relCtx, w.cfg.Owner); err != nil {
		w.cfg.Log.WarnContext(relCtx, "release leases", slog.String("error", err.Error()))
	}
	return nil
}

// dispatch starts a drain for each due destination not already in flight,
// while a slot is free.
func (w *Worker) dispatch(ctx, sendCtx context.Context, wg *sync.WaitGroup) {
	ids, err := w.cfg.Store.DueDestinations(ctx, w.cfg.Now(), 256)
	if err != nil {
		w.health.fail(ctx, "list due destinations", err)
		return
	}
	for _, id := range ids {
		if !w.start(id) {
			continue
		}
		select {
		case w.slots <- struct{}{}:
		default:
			w.finish(id)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work(ctx, sendCtx, id)
		}()
	}
}

// work drains one destination in a slot. While it is quick it keeps the
// destination for SlowAfter, then yields so the next in line gets a turn;
// a send still in flight after SlowAfter moves to overtime and frees the
// slot, so destinations whose platform hangs never hold every slot.
func (w *Worker) work(runCtx, sendCtx context.Context, id int64) {
	var mu sync.Mutex
	done, over := false, false
	slow := time.AfterFunc(w.cfg.SlowAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		select {
		case w.overtime <- struct{}{}:
			over = true
			<-w.slots
			w.Notify()
		default: // overtime is full: keep the slot
		}
	})
	defer func() {
		slow.Stop()
		mu.Lock()
		done = true
		if over {
			<-w.overtime
		} else {
			<-w.slots
		}
		mu.Unlock()
		w.finish(id)
		w.Notify()
	}()
	w.drain(runCtx, sendCtx, id, time.Now().Add(w.cfg.SlowAfter))
}

func (w *Worker) start(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[id] {
		return false
	}
	if w.wireFull(id) {
		return false // its platform is at its limit: others go first
	}
	w.inflight[id] = true
	delete(w.pausedUntil, id)
	return true
}

// takeWire counts a batch to platform on the wire, unless the platform is
// at its limit.
func (w *Worker) takeWire(destID int64, platform string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.platformOf[destID] = platform
	if w.onWire[platform] >= w.cfg.PlatformLimit {
		return false
	}
	w.onWire[platform]++
	return true
}

func (w *Worker) releaseWire(platform string) {
	w.mu.Lock()
	w.onWire[platform]--
	w.mu.Unlock()
}

func (w *Worker) finish(id int64) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

// chores expires deliveries past their window and refreshes the gauges of
// deliveries waiting for credentials.
func (w *Worker) chores(ctx context.Context) {
	if w.health.wait() > 0 {
		return
	}
	n, err := w.cfg.Store.ExpireDeliveries(ctx, w.cfg.Now())
	if err != nil {
		w.health.fail(ctx, "expire deliveries", err)
		return
	}
	// A write went through (reads may work on a full disk, so only
	// writes tell that the database is back).
	w.health.ok(ctx)
	if n > 0 {
		w.cfg.Log.WarnContext(ctx, "deliveries expired before they could be sent", slog.Int64("count", n))
		w.cfg.Metrics.Deliveries.WithLabelValues("any", "expired").Add(float64(n))
	}
	waiting, err := w.cfg.Store.WaitingForCredentials(ctx)
	if err != nil {
		w.health.fail(ctx, "count waiting deliveries", err)
		return
	}
	w.cfg.Metrics.WaitingCredentials.Reset()
	w.cfg.Metrics.WindowSeconds.Reset()
	now := w.cfg.Now()
	for _, wc := range waiting {
		w.cfg.Metrics.WaitingCredentials.WithLabelValues(wc.Platform).Set(float64(wc.Count))
		w.cfg.Metrics.WindowSeconds.WithLabelValues(wc.Platform).Set(max(wc.FirstExpiry.Sub(now), 0).Seconds())
	}
}

// drain sends one destination's due deliveries, batch after batch, until
// none is due, the platform pushes back, shutdown begins, or (with a
// non-zero until) its turn is over.
//
// Batches overlap where that changes nothing the platform sees: while
// one batch is on the wire the next is claimed (leased, so no one else
// sends it) and read, and while it is on the wire the outcomes of the one
// before are recorded. Requests to the destination still go one at a
// time, in order. A batch claimed ahead that is not sent (the platform
// pushed back, the turn is over, shutdown) is given back untouched. A
// batch whose answer needs judging (refused credentials, throttling, a
// whole-batch failure, a probe) is recorded first and judged before
// anything else goes, as when batches did not overlap.
func (w *Worker) drain(runCtx, sendCtx context.Context, destID int64, until time.Time) {
	ctx := sendCtx
	var next *job
	var recorded chan bool // the previous batch's outcomes, being written
	defer func() {
		w.putBack(ctx, next)
		if recorded != nil {
			<-recorded
		}
	}()
	for runCtx.Err() == nil && (until.IsZero() || time.Now().Before(until)) {
		j := next
		next = nil
		if j == nil {
			if j = w.claim(ctx, destID, true); j == nil {
				return
			}
		} else if !w.takeWire(destID, j.dest.Platform) {
			w.putBack(ctx, j)
			return
		}
		var ahead chan *job
		if j.full && !j.probe {
			ahead = make(chan *job, 1)
			go func() { ahead <- w.claim(ctx, destID, false) }()
		}
		outs, v := w.sendBatch(ctx, j.dest, j.sender, j.claimed)
		w.releaseWire(j.dest.Platform)
		if ahead != nil {
			next = <-ahead
		}
		prevOK := true
		if recorded != nil {
			prevOK, recorded = <-recorded, nil
		}
		if prevOK && !j.probe && v.auth == "" && v.throttledUntil.IsZero() && !v.failedWhole {
			// Nothing to judge: record while the next batch goes out.
			done := make(chan bool, 1)
			go func() { done <- w.record(ctx, j, outs) }()
			recorded = done
			continue
		}
		if !w.record(ctx, j, outs) || !prevOK || !w.judge(ctx, j.dest, j.probe, v) {
			return
		}
	}
}

// job is one claimed batch of a destination; its leases are renewed until
// its outcomes are recorded.
type job struct {
	dest    store.Destination
	sender  platforms.Sender
	probe   bool // a single delivery probing a paused or parked destination
	full    bool // as many as a batch holds were due: more may be waiting
	claimed []store.Claimed
	stop    func() // stops renewing the leases
}

// claim loads a destination and claims its next batch: a single probe
// delivery when its breaker is open or its credentials were refused. With
// wire it first takes a place on the wire to the destination's platform
// (nothing is claimed when the platform is at its limit), kept when a
// batch is returned; without (a batch claimed ahead, sent later), a
// destination that needs a probe gets nothing. It returns nil when
// nothing was claimed.
func (w *Worker) claim(ctx context.Context, destID int64, wire bool) *job {
	dest, err := w.cfg.Store.Destination(ctx, destID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			w.mu.Lock()
			delete(w.platformOf, destID)
			delete(w.pausedUntil, destID)
			w.mu.Unlock()
		} else {
			w.health.fail(ctx, "load destination", err)
		}
		return nil
	}
	probe := !dest.AuthFailedAt.IsZero() || dest.Failures > 0
	if probe && !wire {
		return nil
	}
	if wire && !w.takeWire(destID, dest.Platform) {
		return nil
	}
	sender := w.cfg.Senders[dest.Platform]
	size := 100
	if sender != nil {
		size = sender.BatchSize()
	}
	claimed, err := w.claimBatch(ctx, destID, probe, size)
	if err != nil || len(claimed) == 0 {
		if wire {
			w.releaseWire(dest.Platform)
		}
		return nil
	}
	return &job{dest: dest, sender: sender, probe: probe, full: len(claimed) >= size, claimed: claimed, stop: w.renew(ctx, claimed)}
}

// claimBatch claims up to size due deliveries of a destination, or its
// probe; a failure is reported to the store's health and returned.
func (w *Worker) claimBatch(ctx context.Context, destID int64, probe bool, size int) ([]store.Claimed, error) {
	now := w.cfg.Now()
	var claimed []store.Claimed
	var err error
	if probe {
		var took bool
		took, err = w.cfg.Store.BeginProbe(ctx, destID, now, w.cfg.Lease)
		if err != nil {
			w.health.fail(ctx, "begin probe", err)
			return nil, err
		}
		if !took {
			return nil, nil
		}
		claimed, err = w.cfg.Store.ClaimProbe(ctx, destID, w.cfg.Owner, now, w.cfg.Lease)
	} else {
		claimed, err = w.cfg.Store.Claim(ctx, destID, w.cfg.Owner, size, now, w.cfg.Lease)
	}
	if err != nil {
		w.health.fail(ctx, "claim deliveries", err)
		return nil, err
	}
	w.health.ok(ctx)
	return claimed, nil
}

// putBack gives back, untouched, a batch claimed ahead that will not be
// sent now. Should that fail, its leases run out instead.
func (w *Worker) putBack(ctx context.Context, j *job) {
	if j == nil {
		return
	}
	j.stop()
	ids := make([]int64, len(j.claimed))
	for i, c := range j.claimed {
		ids[i] = c.ID
	}
	if err := w.cfg.Store.ReleaseClaims(context.WithoutCancel(ctx), w.cfg.Owner, ids); err != nil {
		w.health.fail(ctx, "give back claimed deliveries", err)
	}
}

// record writes a batch's outcomes (retrying; see complete), stops
// renewing its leases and counts the outcomes; it reports whether they
// were written.
func (w *Worker) record(ctx context.Context, j *job, outs []store.Outcome) bool {
	err := w.complete(ctx, j.dest.ID, outs)
	j.stop()
	if err != nil {
		return false
	}
	for _, o := range outs {
		outcome := o.Status
		if o.Parked {
			outcome = store.DeliveryWaitingCredentials
		}
		if o.CountAttempt {
			w.cfg.Metrics.Deliveries.WithLabelValues(j.dest.Platform, outcome).Inc()
		}
	}
	return true
}

// renew keeps the leases on claimed alive until the returned stop is
// called.
func (w *Worker) renew(ctx context.Context, claimed []store.Claimed) (stop func()) {
	ids := make([]int64, len(claimed))
	for i, c := range claimed {
		ids[i] = c.ID
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.cfg.RenewEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.cfg.Store.RenewLeases(ctx, w.cfg.Owner, ids, w.cfg.Now().Add(w.cfg.Lease)); err != nil {
					w.health.fail(ctx, "renew leases", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// complete records outcomes, retrying a failed write with backoff, so a
// database outage costs no duplicate send. Retrying is safe for as long as
// it takes: the write only touches deliveries whose lease is still ours,
// and a lease runs out only once renewals fail too and another worker
// claims the delivery (then that worker's record wins). It gives up after
// four leases (one during shutdown); the deliveries are then sent again:
// at least once, never lost.
func (w *Worker) complete(ctx context.Context, destID int64, outs []store.Outcome) error {
	start := time.Now()
	delay := w.cfg.StoreBackoff
	for {
		err := w.cfg.Store.Complete(ctx, w.cfg.Owner, outs, w.cfg.Now())
		if err == nil {
			w.health.ok(ctx)
			return nil
		}
		w.health.fail(ctx, "record delivery outcomes", err)
		wait := delay/2 + mrand.N(delay/2+1)
		limit := 4 * w.cfg.Lease
		if w.stopping.Load() {
			limit = w.cfg.Lease
		}
		if ctx.Err() != nil || time.Since(start)+wait > limit {
			w.cfg.Log.ErrorContext(ctx, "record delivery outcomes: gave up; the deliveries are sent again when their leases run out",
				slog.Int64("destination_id", destID), slog.Int("deliveries", len(outs)), slog.String("error", err.Error()))
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		delay = min(delay*2, w.cfg.StoreMaxBackoff)
	}
}

// judge acts on what a batch said about its destination as a whole, and
// reports whether the next batch may go at once.
func (w *Worker) judge(ctx context.Context, dest store.Destination, probe bool, v verdict) bool {
	now := w.cfg.Now()
	log := w.cfg.Log.With(slog.Int64("destination_id", dest.ID), slog.String("platform", dest.Platform))
	parked := !dest.AuthFailedAt.IsZero()
	switch {
	case v.auth != "":
		probes := 1
		if parked {
			probes = dest.Failures + 1
		}
		at := now.Add(w.probeDelay(probes))
		if v.sunset {
			// No probe can succeed before the settings change; saving
			// the destination resumes it.
			at = now.Add(365 * 24 * time.Hour)
		}
		if probes == 1 {
			log.WarnContext(ctx, "platform rejected credentials; deliveries wait for credentials and are retried when the destination is saved or a probe succeeds",
				slog.Time("next_probe", at))
		} else {
			log.InfoContext(ctx, "credentials still rejected", slog.Int("probes", probes), slog.Time("next_probe", at))
		}
		if err := w.cfg.Store.ParkDestinationUntil(ctx, dest.ID, v.auth, probes, now, at); err != nil {
			w.health.fail(ctx, "park destination", err)
		}
		w.pauseUntil(dest.ID, at)
		return false
	case !v.throttledUntil.IsZero():
		if err := w.cfg.Store.ThrottleDestination(ctx, dest.ID, v.throttledUntil); err != nil {
			w.health.fail(ctx, "throttle destination", err)
		}
		if probe {
			// The platform answers: probe again when it allows.
			if err := w.cfg.Store.PauseDestination(ctx, dest.ID, dest.Failures, v.throttledUntil); err != nil {
				w.health.fail(ctx, "pause destination", err)
			}
		}
		w.pauseUntil(dest.ID, v.throttledUntil)
		return false
	case v.failedWhole:
		failures, pause := dest.Failures, w.cfg.PauseMax
		if !parked {
			failures++
			pause = max(w.pauseDelay(failures), v.retryAfter)
		}
		at := now.Add(pause)
		if failures == 1 && !parked {
			log.WarnContext(ctx, "a whole batch failed; destination paused until a probe succeeds", slog.Time("next_probe", at))
		}
		if err := w.cfg.Store.PauseDestination(ctx, dest.ID, failures, at); err != nil {
			w.health.fail(ctx, "pause destination", err)
		}
		w.pauseUntil(dest.ID, at)
		return false
	}
	if probe && !v.answered {
		// The probe sent nothing (an adjustment waiting for its
		// conversion): try again at once with the next delivery.
		if err := w.cfg.Store.PauseDestination(ctx, dest.ID, dest.Failures, now); err != nil {
			w.health.fail(ctx, "pause destination", err)
		}
		return false
	}
	if probe {
		n, err := w.cfg.Store.RecoverDestination(ctx, dest.ID, now)
		if err != nil {
			w.health.fail(ctx, "resume destination", err)
			return false
		}
		log.InfoContext(ctx, "destination accepts deliveries again; everything waiting is due now",
			slog.Int64("deliveries", n), slog.Bool("was_parked", parked))
	}
	return true
}

// pauseDelay is a destination's pause after failures batches in a row
// failed whole: PauseMin doubled per failure, at most PauseMax, with
// jitter so replicas and destinations do not probe in step.
func (w *Worker) pauseDelay(failures int) time.Duration {
	return jitter(grow(w.cfg.PauseMin, w.cfg.PauseMax, failures))
}

// probeDelay is the wait before probing refused credentials again.
func (w *Worker) probeDelay(probes int) time.Duration {
	return jitter(grow(w.cfg.ProbeMin, w.cfg.ProbeMax, probes))
}

func grow(base, ceil time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

// jitter is d less up to a tenth.
func jitter(d time.Duration) time.Duration {
	return d - mrand.N(d/10+1)
}
