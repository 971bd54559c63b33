// Package alert watches each shop for what silently loses orders (store
// credentials or a destination's rejected, a destination failing for too
// long, a platform API version about to end, reconciliation finding missing orders, webhook subscriptions
// missing or disabled, webhooks no longer arriving) and tells the merchant
// through alert channels: a generic JSON webhook, a Slack-compatible
// incoming webhook, or e-mail. Each incident is told once when it opens and
// once when it resolves; a failing channel is retried and shown, and never
// holds up delivery, which runs elsewhere.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// Defaults.
const (
	// DefaultFailingFor is how long a destination may have deliveries
	// waiting for a retry before it is an incident.
	DefaultFailingFor = time.Hour
	// usualSpan is the time before a silence over which a shop "usually
	// gets" webhooks.
	usualSpan   = 6 * 24 * time.Hour
	maxAttempts = 10
)

// Config is what the alerter needs.
type Config struct {
	Store *store.Store
	// Senders send per channel kind (webhook, slack, email).
	Senders map[string]Sender
	// PublicURL links alerts into the UI.
	PublicURL string
	// Defaults are the thresholds where the global and the shop's stored
	// ones set nothing (DefaultThresholds when zero).
	Defaults Thresholds
	Log      *slog.Logger
	Now      func() time.Time
}

// Alerter evaluates incidents and sends notifications.
type Alerter struct {
	cfg Config
}

// New returns an Alerter with defaults filled in.
func New(cfg Config) *Alerter {
	if cfg.Defaults == (Thresholds{}) {
		cfg.Defaults = DefaultThresholds
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Alerter{cfg: cfg}
}

// Message is what a channel sends.
type Message struct {
	// State is "opened" or "resolved".
	State    string
	Kind     string
	ShopID   int64
	ShopName string
	Title    string
	Summary  string
	Since    time.Time
	Affected int
	Action   string
	URL      string
}

// Text renders the message as plain text.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Title + "\n")
	if m.State == "resolved" {
		fmt.Fprintf(&b, "Resolved. It had been wrong since %s.\n", m.Since.UTC().Format(time.RFC1123))
	} else {
		fmt.Fprintf(&b, "What broke: %s\nSince: %s\n", m.Summary, m.Since.UTC().Format(time.RFC1123))
		if m.Affected > 0 {
			fmt.Fprintf(&b, "Orders affected: %d\n", m.Affected)
		}
		if m.Action != "" {
			b.WriteString("What to do: " + m.Action + "\n")
		}
	}
	b.WriteString(m.URL + "\n")
	return b.String()
}

// Sender delivers a message to one channel target.
type Sender interface {
	Send(ctx context.Context, target string, m Message) error
}

// Evaluate opens an incident for everything wrong with every shop now, and
// resolves the open incidents that are no longer wrong.
func (a *Alerter) Evaluate(ctx context.Context) error {
	shops, err := a.cfg.Store.Shops(ctx)
	if err != nil {
		return err
	}
	levels, err := a.cfg.Store.AlertThresholds(ctx)
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	want := map[string]store.Incident{}
	for _, sh := range shops {
		incs, err := a.shopIncidents(ctx, sh, Resolve(a.cfg.Defaults, levels[0], levels[sh.ID]), now)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			want[strconv.FormatInt(inc.ShopID, 10)+"/"+inc.Key] = inc
		}
	}
	for _, inc := range want {
		if _, err := a.cfg.Store.OpenIncident(ctx, inc, now); err != nil {
			return err
		}
	}
	open, err := a.cfg.Store.OpenIncidents(ctx)
	if err != nil {
		return err
	}
	for _, inc := range open {
		if _, ok := want[strconv.FormatInt(inc.ShopID, 10)+"/"+inc.Key]; !ok {
			if err := a.cfg.Store.ResolveIncident(ctx, inc.ID, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// Thresholds are the thresholds in force for a shop (0: the global ones).
func (a *Alerter) Thresholds(ctx context.Context, shopID int64) (Thresholds, error) {
	levels, err := a.cfg.Store.AlertThresholds(ctx)
	if err != nil {
		return Thresholds{}, err
	}
	if shopID == 0 {
		return Resolve(a.cfg.Defaults, levels[0]), nil
	}
	return Resolve(a.cfg.Defaults, levels[0], levels[shopID]), nil
}

// shopIncidents lists what is wrong with one shop now, by the shop's
// thresholds th.
func (a *Alerter) shopIncidents(ctx context.Context, sh store.Shop, th Thresholds, now time.Time) ([]store.Incident, error) {
	st := a.cfg.Store
	var out []store.Incident
	add := func(key, kind, summary, action string, affected int) {
		out = append(out, store.Incident{ShopID: sh.ID, Key: key, Kind: kind, Summary: summary, Action: action, Affected: affected})
	}
	api, err := st.StoreAPI(ctx, sh.ID)
	if err != nil {
		return nil, err
	}
	if api.Status == store.StoreAPIAuthFailed {
		add("store_credentials", "credentials_rejected", "the store rejected Postback's API credentials: "+api.StatusError,
			"create a new API key in the store and paste it into the shop's settings", 0)
	}
	if !api.WebhooksCheckedAt.IsZero() && !api.WebhooksOK {
		add("webhooks", "webhook_subscription", "the store's webhook subscriptions are wrong: "+strings.Join(api.WebhooksProblems, "; "),
			"open the shop and click Check and repair webhooks", 0)
	}
	if run, err := st.LastReconcileRun(ctx, sh.ID); err == nil && run.Missing > 0 && run.Error == "" {
		add("missing_orders", "missing_orders", fmt.Sprintf("reconciliation found %d paid orders whose webhook never came (%d sent now, %d too old to send)",
			run.Missing, run.Backfilled, run.TooOld), "check the store's webhook subscriptions; the missing orders were backfilled", run.Missing)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	dests, err := st.Destinations(ctx, sh.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range dests {
		if d.Enabled && !d.AuthFailedAt.IsZero() {
			// One headline, the platform's own words after it, once.
			x := delivery.Explain(d.Platform, store.DeliveryWaitingCredentials, "auth", d.AuthError)
			msg := x.Headline
			if detail := x.Detail(); detail != "" {
				msg += " (" + platforms.Title(d.Platform) + ": " + detail + ")"
			}
			add("destination_credentials:"+strconv.FormatInt(d.ID, 10), "credentials_rejected", msg,
				"reconnect the "+platforms.Title(d.Platform)+" destination with new credentials; its conversions wait until then", 0)
		}
	}
	for _, d := range dests {
		if !d.Enabled {
			continue
		}
		if vs := platforms.VersionOf(d.Platform, d.Settings, now); vs.Warning != "" {
			add("api_version:"+strconv.FormatInt(d.ID, 10), "api_version_expiring", vs.Warning,
				"change the destination's API version before it ends", 0)
		}
	}
	backlog, err := st.RetryingDeliveries(ctx, sh.ID)
	if err != nil {
		return nil, err
	}
	for _, b := range backlog {
		if now.Sub(b.Since) >= th.FailingFor {
			add("destination_failing:"+strconv.FormatInt(b.DestinationID, 10), "destination_failing",
				fmt.Sprintf("%s has been failing since %s", platforms.Title(b.Platform), b.Since.UTC().Format(time.RFC3339)),
				"open the destination's last errors; Postback keeps retrying within the platform's window", b.Count)
		}
	}
	// The newest hour is left out: its conversions may still be on their
	// way.
	acc, err := st.Accounted(ctx, sh.ID, now.Add(-25*time.Hour), now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	if acc.PaidInStore >= int64(th.ShareMinOrders) {
		for _, p := range acc.Platforms {
			if share, ok := p.Share(acc.PaidInStore); ok && share*100 < float64(th.SharePercent) {
				add("accounted_share:"+p.Platform, "accounted_share",
					fmt.Sprintf("%s accounted for %.0f%% of %d paid orders in 24 hours (%d failed, %d waiting)",
						platforms.Title(p.Platform), share*100, acc.PaidInStore, p.Failed, p.Waiting),
					"open the shop's events filtered by failed deliveries; fix the destination, then redeliver", int(acc.PaidInStore-p.Accepted))
			}
		}
	}
	silentSince := now.Add(-th.SilentFor)
	recent, err := st.WebhookCount(ctx, sh.ID, silentSince, now)
	if err != nil {
		return nil, err
	}
	if recent == 0 {
		before, err := st.WebhookCount(ctx, sh.ID, silentSince.Add(-usualSpan), silentSince)
		if err != nil {
			return nil, err
		}
		if before >= int64(th.UsualWebhooks) {
			add("webhooks_silent", "webhooks_silent", fmt.Sprintf("no webhook arrived in %s, after %d in the 6 days before", hours(th.SilentFor), before),
				"check the store's webhook subscriptions (a store disables or deletes them after failures)", 0)
		}
	}
	return out, nil
}

// hours renders a whole number of hours.
func hours(d time.Duration) string {
	if h := int(d / time.Hour); h != 1 {
		return fmt.Sprintf("%d hours", h)
	}
	return "1 hour"
}

// Send sends the due notifications, retrying a failing channel with
// backoff; it never blocks anything but itself.
func (a *Alerter) Send(ctx context.Context) (sent int, err error) {
	now := a.cfg.Now()
	ns, err := a.cfg.Store.ClaimNotifications(ctx, now, now.Add(5*time.Minute), 50)
	if err != nil {
		return 0, err
	}
	for _, n := range ns {
		serr := a.send(ctx, n)
		msg, retry := "", time.Time{}
		if serr != nil {
			msg = serr.Error()
			if n.Attempts+1 < maxAttempts {
				retry = now.Add(min(time.Minute<<n.Attempts, 6*time.Hour))
			}
			a.cfg.Log.WarnContext(ctx, "alert channel failed", slog.Int64("channel_id", n.Channel.ID), slog.String("kind", n.Channel.Kind),
				slog.String("error", msg))
		} else {
			sent++
		}
		if err := a.cfg.Store.FinishNotification(ctx, n.ID, msg, retry, now); err != nil {
			return sent, err
		}
		if err := a.cfg.Store.RecordChannelResult(ctx, n.Channel.ID, msg, now); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func (a *Alerter) send(ctx context.Context, n store.Notification) error {
	s := a.cfg.Senders[n.Channel.Kind]
	if s == nil {
		return fmt.Errorf("no sender for %s channels", n.Channel.Kind)
	}
	sh, err := a.cfg.Store.Shop(ctx, n.Incident.ShopID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return s.Send(ctx, n.Channel.Target, a.message(n.Phase, n.Incident, sh))
}

func (a *Alerter) message(phase string, inc store.Incident, sh store.Shop) Message {
	title := fmt.Sprintf("Postback · %s: %s", sh.Name, inc.Kind)
	if phase == "resolved" {
		title = "Resolved · " + title
	}
	return Message{
		State: phase, Kind: inc.Kind, ShopID: inc.ShopID, ShopName: sh.Name, Title: title, Summary: inc.Summary,
		Since: inc.OpenedAt, Affected: inc.Affected, Action: inc.Action,
		URL: fmt.Sprintf("%s/admin/shops/%d", strings.TrimRight(a.cfg.PublicURL, "/"), inc.ShopID),
	}
}

// TestSend sends a test message through a channel now.
func (a *Alerter) TestSend(ctx context.Context, ch store.AlertChannel) error {
	s := a.cfg.Senders[ch.Kind]
	if s == nil {
		return fmt.Errorf("no sender for %s channels", ch.Kind)
	}
	err := s.Send(ctx, ch.Target, Message{State: "test", Kind: "test", ShopID: ch.ShopID, Title: "Postback · test alert",
		Summary: "this is a test: the channel works", Since: a.cfg.Now(), URL: strings.TrimRight(a.cfg.PublicURL, "/") + "/admin/"})
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if rerr := a.cfg.Store.RecordChannelResult(ctx, ch.ID, msg, a.cfg.Now()); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// Loop evaluates and sends every minute until ctx ends.
func (a *Alerter) Loop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := a.Evaluate(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.ErrorContext(ctx, "evaluate alerts", slog.String("error", err.Error()))
		}
		if _, err := a.Send(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.ErrorContext(ctx, "send alerts", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
