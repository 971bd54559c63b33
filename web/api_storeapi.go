package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/reconcile"
	"github.com/postbackhq/postback/store"
)

// Reconciler runs a shop's reconciliation now (the reconcile package).
type Reconciler interface {
	Run(ctx context.Context, shopID int64, trigger string) (store.ReconcileRun, error)
}

// WebhookManager checks and repairs a shop's webhook subscriptions in its
// store (the reconcile package).
type WebhookManager interface {
	CheckWebhooks(ctx context.Context, shopID int64) (reconcile.Health, error)
	ConnectWebhooks(ctx context.Context, shopID int64) (reconcile.Health, error)
}

// storeCredentialFields are the write-only store API credentials a shop of
// each source takes. Stripe's key stays the shop's stripe_api_key.
var storeCredentialFields = map[mapping.Source][]string{
	mapping.SourceShopify:     {"admin_api_token", "api_secret"},
	mapping.SourceWooCommerce: {"consumer_key", "consumer_secret"},
	mapping.SourceStripe:      {"stripe_api_key"},
}

// storeAPIJSON is a shop's store API connection as the API shows it.
type storeAPIJSON struct {
	Connected     bool           `json:"connected"`
	Status        string         `json:"status"`
	Error         string         `json:"error"`
	CheckedAt     *string        `json:"checked_at"`
	LastReconcile *reconcileJSON `json:"last_reconcile"`
	Webhooks      *webhooksJSON  `json:"webhooks"`
}

// webhooksJSON is the last check of the shop's webhook subscriptions.
type webhooksJSON struct {
	OK          bool     `json:"ok"`
	Problems    []string `json:"problems"`
	CheckedAt   *string  `json:"checked_at"`
	Created     int      `json:"created,omitempty"`
	Reactivated int      `json:"reactivated,omitempty"`
}

// reconcileJSON is one reconciliation run.
type reconcileJSON struct {
	Checked     int     `json:"checked"`
	Missing     int     `json:"missing"`
	Backfilled  int     `json:"backfilled"`
	TooOld      int     `json:"too_old"`
	WindowStart *string `json:"window_start"`
	WindowEnd   *string `json:"window_end"`
	StartedAt   *string `json:"started_at,omitempty"`
	FinishedAt  *string `json:"finished_at,omitempty"`
	Trigger     string  `json:"trigger,omitempty"`
	Error       string  `json:"error,omitempty"`
}

func toReconcileJSON(r store.ReconcileRun) reconcileJSON {
	return reconcileJSON{
		Checked: r.Checked, Missing: r.Missing, Backfilled: r.Backfilled, TooOld: r.TooOld,
		WindowStart: timeOrNil(r.WindowStart), WindowEnd: timeOrNil(r.WindowEnd),
		StartedAt: timeOrNil(r.StartedAt), FinishedAt: timeOrNil(r.FinishedAt), Trigger: r.Trigger, Error: r.Error,
	}
}

// addStoreAPI fills the store API parts of a shop's JSON.
func addStoreAPI(ctx context.Context, st *store.Store, sh store.Shop, out *shopJSON) error {
	api, err := st.StoreAPI(ctx, sh.ID)
	if err != nil {
		return err
	}
	u := api.URL
	out.Settings.StoreURL = &u
	set := []string{}
	for k, v := range api.Credentials {
		if v != "" {
			set = append(set, k)
		}
	}
	if sh.StripeAPIKey != "" {
		set = append(set, "stripe_api_key")
	}
	sort.Strings(set)
	out.CredentialsSet = set
	sa := &storeAPIJSON{Connected: reconcile.Connected(sh, api), Status: api.Status, Error: api.StatusError, CheckedAt: timeOrNil(api.StatusAt)}
	if sa.Status == "" {
		sa.Status = "unchecked"
		if !sa.Connected {
			sa.Status = "not_connected"
		}
	}
	if !api.WebhooksCheckedAt.IsZero() {
		sa.Webhooks = &webhooksJSON{OK: api.WebhooksOK, Problems: nonNilSlice(api.WebhooksProblems), CheckedAt: timeOrNil(api.WebhooksCheckedAt)}
	}
	run, err := st.LastReconcileRun(ctx, sh.ID)
	switch {
	case err == nil:
		rj := toReconcileJSON(run)
		sa.LastReconcile = &rj
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	out.StoreAPI = sa
	return nil
}

// validStoreURL checks a store's base URL: absolute https (plain http only
// for a local host), no credentials, query or fragment.
func validStoreURL(raw string) (string, *fieldError) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(raw) > 500 {
		return "", badField("settings.store_url", "must be the store's base URL, like https://example.myshopify.com")
	}
	local := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	if u.Scheme != "https" && !(u.Scheme == "http" && local) {
		return "", badField("settings.store_url", "must start with https://")
	}
	return raw, nil
}

// applyStoreAPIInput validates the store URL and store credentials of a
// shop input and applies them to api (and sh for Stripe's key). It reports
// whether anything changed.
func applyStoreAPIInput(sh *store.Shop, api *store.StoreAPI, in shopInput) (bool, *fieldError) {
	changed := false
	if in.Settings != nil && in.Settings.StoreURL != nil {
		u, bad := validStoreURL(*in.Settings.StoreURL)
		if bad != nil {
			return false, bad
		}
		if u != api.URL {
			api.URL, changed = u, true
		}
	}
	if in.StripeAPIKey != nil && sh.Source == mapping.SourceStripe {
		// The key set the old way connects the shop's store API too.
		changed = true
	}
	if len(in.Credentials) == 0 {
		return changed, nil
	}
	allowed := storeCredentialFields[sh.Source]
	if api.Credentials == nil {
		api.Credentials = map[string]string{}
	}
	for k, v := range in.Credentials {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return false, badField("credentials", "unknown credential "+k+" for a "+string(sh.Source)+" shop (expected "+strings.Join(allowed, ", ")+")")
		}
		v = strings.TrimSpace(v)
		if len(v) > 1000 {
			return false, badField("credentials."+k, "is too long")
		}
		if k == "stripe_api_key" {
			if v != "" && !strings.HasPrefix(v, "rk_") && !strings.HasPrefix(v, "sk_") {
				return false, badField("credentials.stripe_api_key", "must be a restricted key (rk_…)")
			}
			sh.StripeAPIKey = v
			changed = true
			continue
		}
		if v == "" {
			delete(api.Credentials, k)
		} else {
			api.Credentials[k] = v
		}
		changed = true
	}
	return changed, nil
}

func handleShopReconcile(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, id); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		if cfg.Reconciler == nil {
			jsonError(c, http.StatusServiceUnavailable, "reconciliation is not available")
			return
		}
		run, err := cfg.Reconciler.Run(ctx, id, "manual")
		if errors.Is(err, connectors.ErrStoreNotConnected) {
			jsonError(c, http.StatusConflict, "connect the store's API first: "+run.Error)
			return
		}
		if err != nil {
			// The run is recorded with its error; the merchant sees why.
			c.JSON(http.StatusBadGateway, gin.H{"error": "reconciliation failed: " + run.Error})
			return
		}
		rj := toReconcileJSON(run)
		c.JSON(http.StatusOK, gin.H{
			"checked": rj.Checked, "missing": rj.Missing, "backfilled": rj.Backfilled, "too_old": rj.TooOld,
			"window_start": rj.WindowStart, "window_end": rj.WindowEnd,
		})
	}
}

// handleShopWebhooks checks (GET) or connects and repairs (POST) the
// shop's webhook subscriptions in its store.
func handleShopWebhooks(cfg Config, connect bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, id); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		if cfg.Webhooks == nil {
			jsonError(c, http.StatusServiceUnavailable, "webhook registration is not available")
			return
		}
		var h reconcile.Health
		var err error
		if connect {
			h, err = cfg.Webhooks.ConnectWebhooks(ctx, id)
		} else {
			h, err = cfg.Webhooks.CheckWebhooks(ctx, id)
		}
		switch {
		case errors.Is(err, connectors.ErrStoreNotConnected):
			jsonError(c, http.StatusConflict, "connect the store's API first: "+err.Error())
			return
		case err != nil:
			jsonError(c, http.StatusBadGateway, "store API: "+err.Error())
			return
		}
		subs := make([]gin.H, 0, len(h.Subscriptions))
		for _, s := range h.Subscriptions {
			subs = append(subs, gin.H{"id": s.ID, "topic": s.Topic, "url": s.URL, "active": s.Active, "status": s.Status})
		}
		c.JSON(http.StatusOK, gin.H{
			"ok": h.OK, "problems": nonNilSlice(h.Problems), "missing": nonNilSlice(h.Missing),
			"created": h.Created, "reactivated": h.Reactivated, "subscriptions": subs,
		})
	}
}
