package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// verdict is what a batch tells about the destination as a whole.
type verdict struct {
	auth           string    // credentials refused: park the destination
	throttledUntil time.Time // rate limited: the destination waits
	failedWhole    bool      // every conversion failed transiently
	retryAfter     time.Duration
	// answered says the platform took at least one conversion, or
	// answered about the event itself: its API and the credentials work.
	answered bool
	// sunset: the platform no longer serves the destination's API
	// version; only a change of its settings helps, so nothing probes.
	sunset bool
}

// sendBatch sends claimed deliveries (conversions and adjustments) and
// returns one outcome per delivery.
func (w *Worker) sendBatch(ctx context.Context, dest store.Destination, sender platforms.Sender, claimed []store.Claimed) ([]store.Outcome, verdict) {
	now := w.cfg.Now()
	var (
		outs  []store.Outcome
		convs []store.Claimed
		adjs  []store.Claimed
	)
	for _, c := range claimed {
		switch {
		case c.Problem != "":
			outs = append(outs, failed(c, now, "invalid", c.Problem))
		case sender == nil:
			outs = append(outs, skipped(c, now, "invalid", fmt.Sprintf("platform %q is not supported by this version of Postback", dest.Platform)))
		case !dest.Enabled:
			// Disabled while claimed: put back untouched.
			outs = append(outs, store.Outcome{DeliveryID: c.ID, Status: statusOf(c), NextAttemptAt: now.Add(w.cfg.Poll)})
		case now.After(c.ExpiresAt):
			outs = append(outs, skipped(c, now, "too_old", fmt.Sprintf("event is past %s's acceptance window; not sent", dest.Platform)))
		case c.Kind == store.KindAdjustment:
			adjs = append(adjs, c)
		default:
			convs = append(convs, c)
		}
	}
	pd := platforms.Destination{ID: dest.ID, ShopID: dest.ShopID, Platform: dest.Platform, Credentials: dest.Credentials, Settings: dest.Settings}
	var v verdict
	if len(convs) > 0 {
		o, cv := w.sendConversions(ctx, pd, sender, convs)
		outs = append(outs, o...)
		v = cv
	}
	if len(adjs) > 0 && v.auth == "" && v.throttledUntil.IsZero() {
		o, av := w.sendAdjustments(ctx, pd, sender, adjs)
		outs = append(outs, o...)
		answered := v.answered || av.answered
		if av.auth != "" || !av.throttledUntil.IsZero() {
			v = av
		}
		v.answered = answered
	} else {
		for _, c := range adjs {
			outs = append(outs, store.Outcome{DeliveryID: c.ID, Status: statusOf(c), NextAttemptAt: now.Add(w.cfg.Poll)})
		}
	}
	return outs, v
}

func (w *Worker) sendConversions(ctx context.Context, d platforms.Destination, sender platforms.Sender, claimed []store.Claimed) ([]store.Outcome, verdict) {
	convs := make([]mapping.Conversion, len(claimed))
	for i, c := range claimed {
		convs[i] = c.Conversion
		if w.cfg.Enrich != nil {
			convs[i] = w.cfg.Enrich(ctx, d.ShopID, c.Conversion)
		}
	}
	start := w.cfg.Now()
	results := w.send(ctx, d.Platform, len(convs), func(ctx context.Context) []platforms.Result { return sender.Send(ctx, d, convs) })
	latency := w.cfg.Now().Sub(start)
	w.cfg.Metrics.SendSeconds.WithLabelValues(d.Platform).Observe(latency.Seconds())
	w.cfg.Metrics.BatchSize.WithLabelValues(d.Platform).Observe(float64(len(convs)))
	outs, v := w.classify(claimed, results, start, latency)
	w.followUp(sender, results, outs)
	return outs, v
}

func (w *Worker) sendAdjustments(ctx context.Context, d platforms.Destination, sender platforms.Sender, claimed []store.Claimed) ([]store.Outcome, verdict) {
	now := w.cfg.Now()
	adjuster, ok := sender.(platforms.Adjuster)
	var outs []store.Outcome
	var ready []store.Claimed
	var adjs []platforms.Adjustment
	for _, c := range claimed {
		switch {
		case !ok:
			outs = append(outs, skipped(c, now, "not_supported", "refund adjustments are not supported by platform"))
		case c.ConversionRejected:
			outs = append(outs, skipped(c, now, "invalid", "the conversion never reached this destination; nothing to adjust"))
		case !c.ConversionSent:
			// Wait for the conversion itself to be delivered first.
			outs = append(outs, store.Outcome{DeliveryID: c.ID, Status: statusOf(c), NextAttemptAt: now.Add(time.Minute)})
		default:
			ready = append(ready, c)
			adjs = append(adjs, platforms.Adjustment{Original: c.Conversion, Refund: *c.Refund, Remaining: c.Remaining})
		}
	}
	if len(ready) == 0 {
		return outs, verdict{}
	}
	results := w.send(ctx, d.Platform, len(adjs), func(ctx context.Context) []platforms.Result { return adjuster.Adjust(ctx, d, adjs) })
	o, v := w.classify(ready, results, now, w.cfg.Now().Sub(now))
	w.followUp(sender, results, o)
	return append(outs, o...), v
}

// send runs one request under the platform's send timeout, and says so
// when that deadline, rather than shutdown, cut it off.
func (w *Worker) send(ctx context.Context, platform string, n int, do func(context.Context) []platforms.Result) []platforms.Result {
	timeout := w.sendTimeout(platform, n)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := do(sctx)
	if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		for i, r := range results {
			if errors.Is(r.Err, platforms.ErrTransient) && r.StatusCode == 0 {
				results[i].Err = platforms.Transient(0, "", fmt.Sprintf("no answer within %s (Postback's send timeout for %s)", timeout, platform))
			}
		}
	}
	return results
}

// classify turns each platform result into an outcome with its own clock:
// invalid fails at once; transient and throttled retry with backoff until
// the platform's window closes; auth parks the delivery until the
// destination gets new credentials.
func (w *Worker) classify(claimed []store.Claimed, results []platforms.Result, start time.Time, latency time.Duration) ([]store.Outcome, verdict) {
	now := w.cfg.Now()
	outs := make([]store.Outcome, 0, len(claimed))
	var v verdict
	transient := 0
	for i, c := range claimed {
		var r platforms.Result
		if i < len(results) {
			r = results[i]
		} else {
			r = platforms.Result{Err: platforms.Transient(0, "", "platform sender returned no result")}
		}
		o := store.Outcome{
			DeliveryID: c.ID, Attempt: c.Attempts + 1, CountAttempt: true, Payload: string(r.Payload),
			Response: truncate(r.Response, 64<<10), StatusCode: r.StatusCode, StartedAt: start, Latency: latency,
		}
		if r.Payload != nil {
			if mj, err := json.Marshal(r.Match); err == nil {
				o.Match = string(mj)
			}
		}
		var perr *platforms.Error
		errors.As(r.Err, &perr)
		switch {
		case r.Err == nil:
			o.Status = store.DeliveryDelivered
			v.answered = true
		case errors.Is(r.Err, platforms.ErrInvalid) && r.StatusCode == 0:
			// Refused before sending (nothing to match on, too old, not
			// supported): Postback's choice, not the platform's verdict.
			o.Status, o.ErrorClass, o.Error = store.DeliverySkipped, "invalid", r.Err.Error()
		case errors.Is(r.Err, platforms.ErrInvalid):
			o.Status, o.ErrorClass, o.Error = store.DeliveryFailed, "invalid", r.Err.Error()
			v.answered = v.answered || r.StatusCode != 0
		case errors.Is(r.Err, platforms.ErrAuth):
			o.Status, o.ErrorClass, o.Parked = store.DeliveryRetrying, "auth", true
			o.Error = r.Err.Error() + waitingSuffix
			if perr != nil && perr.Code == platforms.CodeVersionSunset {
				o.Error = r.Err.Error() // names the version and the fix
				v.sunset = true
			}
			o.NextAttemptAt = now
			v.auth = r.Err.Error()
		default:
			class := "transient"
			wait := w.backoff(c.Attempts + 1)
			if errors.Is(r.Err, platforms.ErrThrottled) {
				class = "throttled"
			}
			if perr != nil && perr.RetryAfter > 0 {
				// The platform said when: that instant, not our backoff.
				wait = perr.RetryAfter
				v.retryAfter = max(v.retryAfter, wait)
			}
			next := now.Add(wait)
			if class == "throttled" && next.After(v.throttledUntil) {
				v.throttledUntil = next
			}
			o.ErrorClass, o.Error, o.NextAttemptAt = class, r.Err.Error(), next
			o.Status = store.DeliveryRetrying
			if next.After(c.ExpiresAt) {
				o.Status = store.DeliveryFailed
				o.Error = gaveUpPrefix + r.Err.Error()
			}
			transient++
		}
		outs = append(outs, o)
	}
	v.failedWhole = transient == len(claimed)
	return outs, v
}

// backoff is the wait before attempt n+1: exponential from cfg.Backoff,
// capped at cfg.MaxBackoff, with jitter (half to full) so that many
// deliveries failing together do not retry together.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.Backoff
	for i := 1; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	if d > w.cfg.MaxBackoff {
		d = w.cfg.MaxBackoff
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// skipped is a delivery Postback chose not to send, with why.
func skipped(c store.Claimed, now time.Time, class, msg string) store.Outcome {
	o := failed(c, now, class, msg)
	o.Status = store.DeliverySkipped
	return o
}

func failed(c store.Claimed, now time.Time, class, msg string) store.Outcome {
	return store.Outcome{DeliveryID: c.ID, Attempt: c.Attempts + 1, CountAttempt: true, Status: store.DeliveryFailed,
		ErrorClass: class, Error: msg, StartedAt: now}
}

func statusOf(c store.Claimed) string {
	if c.Attempts == 0 {
		return store.DeliveryPending
	}
	return store.DeliveryRetrying
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
