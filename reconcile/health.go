package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// HealthInterval is how often each connected shop's webhook subscriptions
// are checked.
const HealthInterval = time.Hour

// Health is a check of a shop's webhook subscriptions in its store.
type Health struct {
	OK bool
	// Problems say what is wrong, one sentence each.
	Problems []string
	// Missing are the topics no active subscription to the shop's URL
	// covers; Inactive the subscriptions to it that the store paused or
	// disabled.
	Missing       []string
	Inactive      []connectors.Subscription
	Subscriptions []connectors.Subscription
	// Created and Reactivated count what a repair did.
	Created     int
	Reactivated int
}

// WebhookURL is the shop's webhook URL under publicURL (as web shows it).
func WebhookURL(publicURL string, sh store.Shop) string {
	return strings.TrimRight(publicURL, "/") + "/webhooks/" + string(sh.Source) + "/" + sh.WebhookKey
}

func (r *Reconciler) registrar(sh store.Shop) (connectors.Registrar, error) {
	reg := r.cfg.Registrars[sh.Source]
	if reg == nil {
		return nil, fmt.Errorf("no webhook registration for %s", sh.Source)
	}
	return reg, nil
}

// CheckWebhooks verifies that the shop's subscriptions exist, point at its
// webhook URL, are active and cover the topics its trigger needs, and
// records the result on the shop.
func (r *Reconciler) CheckWebhooks(ctx context.Context, shopID int64) (Health, error) {
	sh, api, err := r.connected(ctx, shopID)
	if err != nil {
		return Health{}, err
	}
	reg, err := r.registrar(sh)
	if err != nil {
		return Health{}, err
	}
	h, err := r.check(ctx, sh, api, reg)
	if err != nil {
		r.checkFailed(ctx, sh.ID, api, err)
		return h, err
	}
	if err := r.cfg.Store.SaveWebhookHealth(ctx, sh.ID, h.OK, h.Problems, r.cfg.Now()); err != nil {
		return h, err
	}
	return h, nil
}

func (r *Reconciler) connected(ctx context.Context, shopID int64) (store.Shop, store.StoreAPI, error) {
	sh, err := r.cfg.Store.Shop(ctx, shopID)
	if err != nil {
		return sh, store.StoreAPI{}, err
	}
	api, err := r.cfg.Store.StoreAPI(ctx, shopID)
	if err != nil {
		return sh, api, err
	}
	if !Connected(sh, api) {
		return sh, api, connectors.ErrStoreNotConnected
	}
	return sh, api, nil
}

func (r *Reconciler) check(ctx context.Context, sh store.Shop, api store.StoreAPI, reg connectors.Registrar) (Health, error) {
	subs, err := reg.Subscriptions(ctx, Credentials(sh, api))
	if err != nil {
		return Health{}, err
	}
	url := WebhookURL(r.cfg.PublicURL, sh)
	h := Health{Subscriptions: subs}
	covered := map[string]bool{}
	seenInactive := map[string]bool{}
	for _, s := range subs {
		if s.URL != url {
			continue
		}
		if !s.Active {
			if !seenInactive[s.ID] {
				seenInactive[s.ID] = true
				h.Inactive = append(h.Inactive, s)
				h.Problems = append(h.Problems, fmt.Sprintf("subscription %s (%s) is %s in the store: it delivers nothing", s.ID, s.Topic, s.Status))
			}
			continue
		}
		covered[s.Topic] = true
	}
	for _, t := range connectors.Topics(string(sh.Source), sh.Rules.Trigger == mapping.TriggerFulfilled) {
		if !covered[t] && !covered["*"] {
			h.Missing = append(h.Missing, t)
		}
	}
	if len(h.Missing) > 0 {
		h.Problems = append(h.Problems, "no active subscription to this shop's webhook URL for "+strings.Join(h.Missing, ", "))
	}
	h.OK = len(h.Problems) == 0
	return h, nil
}

// ConnectWebhooks creates the subscriptions the shop lacks, turns paused
// or disabled ones back on, stores the signing secret the store will use,
// and checks again. It is the "Connect" action and the repair.
func (r *Reconciler) ConnectWebhooks(ctx context.Context, shopID int64) (Health, error) {
	sh, api, err := r.connected(ctx, shopID)
	if err != nil {
		return Health{}, err
	}
	reg, err := r.registrar(sh)
	if err != nil {
		return Health{}, err
	}
	cred := Credentials(sh, api)
	h, err := r.check(ctx, sh, api, reg)
	if err != nil {
		r.recordFailure(ctx, sh.ID, api, err)
		return h, err
	}
	revived := map[string]bool{}
	for _, s := range h.Inactive {
		if err := reg.Reactivate(ctx, cred, s); err != nil {
			return h, err
		}
		h.Reactivated++
		revived[s.Topic] = true
	}
	var missing []string
	for _, t := range h.Missing {
		if !revived[t] && !(sh.Source != mapping.SourceShopify && revived["*"]) {
			missing = append(missing, t)
		}
	}
	h.Missing = missing
	if len(h.Missing) > 0 {
		secret := sh.SigningSecret
		if secret == "" && sh.Source == mapping.SourceWooCommerce {
			if secret, err = connectors.NewSigningSecret(); err != nil {
				return h, err
			}
		}
		got, err := reg.Subscribe(ctx, cred, WebhookURL(r.cfg.PublicURL, sh), h.Missing, secret)
		if err != nil {
			return h, err
		}
		h.Created = len(h.Missing)
		if got != "" && got != sh.SigningSecret {
			// The old secret stays accepted while webhooks signed with it
			// may still arrive.
			sh.PreviousSecret, sh.SigningSecret = sh.SigningSecret, got
			if _, err := r.cfg.Store.UpdateShop(ctx, sh, r.cfg.Now()); err != nil {
				return h, err
			}
		}
	}
	after, err := r.check(ctx, sh, api, reg)
	if err != nil {
		return h, err
	}
	after.Created, after.Reactivated = h.Created, h.Reactivated
	if err := r.cfg.Store.SaveWebhookHealth(ctx, sh.ID, after.OK, after.Problems, r.cfg.Now()); err != nil {
		return after, err
	}
	return after, nil
}

// checkFailed records a webhook check that could not run. A refusal is
// about the key's permissions for webhooks (write_webhooks, Webhook
// Endpoints), which reading orders may not need: it is a webhook problem,
// not rejected credentials. Anything else backs the store off.
func (r *Reconciler) checkFailed(ctx context.Context, shopID int64, api store.StoreAPI, err error) {
	if errors.Is(err, connectors.ErrStoreAuth) {
		msg := "the store refused to list webhook subscriptions; give the API key access to webhooks: " + err.Error()
		if serr := r.cfg.Store.SaveWebhookHealth(context.WithoutCancel(ctx), shopID, false, []string{msg}, r.cfg.Now()); serr != nil {
			r.cfg.Log.ErrorContext(ctx, "record webhook check", slog.Int64("shop_id", shopID), slog.String("error", serr.Error()))
		}
		return
	}
	r.recordFailure(ctx, shopID, api, err)
}

// tickHealth checks the shop's webhooks when its hourly check is due and
// this replica claims it.
func (r *Reconciler) tickHealth(ctx context.Context, api store.StoreAPI) {
	if r.cfg.Registrars == nil {
		return
	}
	now := r.cfg.Now()
	ok, err := r.cfg.Store.ClaimHealthCheck(ctx, api.ShopID, now, now.Add(HealthInterval+r.cfg.Jitter(HealthInterval/10)))
	if err != nil || !ok {
		return
	}
	if _, err := r.CheckWebhooks(ctx, api.ShopID); err != nil && !errors.Is(err, connectors.ErrStoreNotConnected) {
		r.cfg.Log.WarnContext(ctx, "webhook check failed", slog.Int64("shop_id", api.ShopID), slog.String("error", err.Error()))
	}
}
