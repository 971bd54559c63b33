package delivery

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// Follow-up of requests a platform processes after answering them (Google
// Data Manager answers events:ingest with a request id and processes the
// events later; requestStatus:retrieve tells how that went). A delivered
// outcome records the request id; this job asks the platform until it has
// finished, so the event shows the platform's own verdict, not just an
// HTTP 200.

// followUp marks delivered outcomes whose answer names a request the sender
// can read back. outs and results are aligned.
func (w *Worker) followUp(sender platforms.Sender, results []platforms.Result, outs []store.Outcome) {
	sc, ok := sender.(platforms.StatusChecker)
	if !ok {
		return
	}
	first := w.cfg.Now().Add(w.cfg.StatusDelay)
	for i := range outs {
		if i >= len(results) || outs[i].Status != store.DeliveryDelivered {
			continue
		}
		if id := sc.RequestID(results[i].Response); id != "" {
			outs[i].PlatformRequestID, outs[i].PlatformCheckAt = id, first
		}
	}
}

// checkStatuses reads back the verdicts that are due.
func (w *Worker) checkStatuses(ctx context.Context) {
	checks, err := w.cfg.Store.DuePlatformChecks(ctx, w.cfg.Now(), 100)
	if err != nil {
		if ctx.Err() == nil {
			w.cfg.Log.ErrorContext(ctx, "look for platform status checks", slog.String("error", err.Error()))
		}
		return
	}
	for _, c := range checks {
		if ctx.Err() != nil {
			return
		}
		w.checkStatus(ctx, c)
	}
}

// checkStatus asks the platform about one request and records the answer
// on its deliveries.
func (w *Worker) checkStatus(ctx context.Context, c store.PlatformCheck) {
	state, detail, next := w.askStatus(ctx, c)
	now := w.cfg.Now()
	if state == store.PlatformProcessing && !c.DeliveredAt.IsZero() && now.Sub(c.DeliveredAt) > w.cfg.StatusGiveUp {
		state, detail, next = "unknown", "the platform had not finished processing after "+w.cfg.StatusGiveUp.String(), time.Time{}
	}
	if state == "partial" || state == "rejected" || state == "unknown" {
		w.cfg.Log.WarnContext(ctx, "platform's verdict on a delivered request",
			slog.Int64("destination_id", c.DestinationID), slog.String("platform", c.Platform),
			slog.String("state", state), slog.String("detail", detail))
	}
	if err := w.cfg.Store.RecordPlatformStatus(ctx, c.DeliveryIDs, state, detail, next, now); err != nil && ctx.Err() == nil {
		w.cfg.Log.ErrorContext(ctx, "record platform status", slog.Int64("destination_id", c.DestinationID), slog.String("error", err.Error()))
	}
}

// askStatus is the state to record, its detail, and when to ask again (zero
// when the answer is final).
func (w *Worker) askStatus(ctx context.Context, c store.PlatformCheck) (string, string, time.Time) {
	again := w.cfg.Now().Add(w.cfg.StatusEvery)
	dest, err := w.cfg.Store.Destination(ctx, c.DestinationID)
	if errors.Is(err, store.ErrNotFound) {
		return "unknown", "the destination was deleted", time.Time{}
	}
	if err != nil {
		return store.PlatformProcessing, "", again
	}
	sc, ok := w.cfg.Senders[dest.Platform].(platforms.StatusChecker)
	if !ok {
		return "unknown", "the platform does not report on requests", time.Time{}
	}
	pd := platforms.Destination{ID: dest.ID, ShopID: dest.ShopID, Platform: dest.Platform, Credentials: dest.Credentials, Settings: dest.Settings}
	st, err := sc.RequestStatus(ctx, pd, c.RequestID)
	switch {
	case err != nil && errors.Is(err, platforms.ErrRetryable):
		return store.PlatformProcessing, "", again
	case err != nil:
		return "unknown", "could not read the platform's verdict: " + err.Error(), time.Time{}
	case !st.Done:
		return store.PlatformProcessing, st.Detail, again
	}
	return st.State, st.Detail, time.Time{}
}
