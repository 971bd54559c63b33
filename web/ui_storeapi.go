package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// storeAPIView is what the shop pages show of the store API connection:
// the URL, which credentials are set (never their values), the status and
// the last reconciliation.
type storeAPIView struct {
	URL       string
	Set       map[string]bool
	Connected bool
	Status    string
	Error     string
	CheckedAt string
	Last      *reconcileJSON
	Webhooks  *webhooksJSON
	// Run is the last reconciliation's times, for the page's time format.
	Run store.ReconcileRun
	// WebhooksAt is when the subscriptions were last checked.
	WebhooksAt time.Time
	// Schedule says when reconciliation runs ("every 15 minutes").
	Schedule string
}

// reconcileSchedule words POSTBACK_RECONCILE_INTERVAL for the shop page.
func reconcileSchedule(every time.Duration) string {
	switch {
	case every <= 0:
		return "only when you run it (POSTBACK_RECONCILE_INTERVAL is 0)"
	case every%time.Hour == 0 && every >= time.Hour:
		if every == time.Hour {
			return "every hour"
		}
		return fmt.Sprintf("every %d hours", every/time.Hour)
	case every%time.Minute == 0:
		return fmt.Sprintf("every %d minutes", every/time.Minute)
	default:
		return "every " + every.String()
	}
}

func loadStoreAPIView(ctx context.Context, st *store.Store, sh store.Shop) (storeAPIView, error) {
	var j shopJSON
	if err := addStoreAPI(ctx, st, sh, &j); err != nil {
		return storeAPIView{}, err
	}
	v := storeAPIView{Set: map[string]bool{}, Connected: j.StoreAPI.Connected, Status: j.StoreAPI.Status,
		Error: j.StoreAPI.Error, Last: j.StoreAPI.LastReconcile}
	if j.Settings.StoreURL != nil {
		v.URL = *j.Settings.StoreURL
	}
	for _, k := range j.CredentialsSet {
		v.Set[k] = true
	}
	if j.StoreAPI.CheckedAt != nil {
		v.CheckedAt = *j.StoreAPI.CheckedAt
	}
	v.Webhooks = j.StoreAPI.Webhooks
	if v.Last != nil {
		var err error
		if v.Run, err = st.LastReconcileRun(ctx, sh.ID); err != nil {
			return v, err
		}
	}
	if v.Webhooks != nil {
		api, err := st.StoreAPI(ctx, sh.ID)
		if err != nil {
			return v, err
		}
		v.WebhooksAt = api.WebhooksCheckedAt
	}
	return v, nil
}

// storeAPIFromForm reads the store API fields of a shop form into the
// API's input: the URL always (the form shows it), a credential only when
// typed, since saved ones are never sent back to the browser.
func storeAPIFromForm(c *gin.Context, source mapping.Source, in *shopInput) {
	if source == mapping.SourceStripe {
		return
	}
	if in.Settings != nil {
		u := c.PostForm("store_url")
		in.Settings.StoreURL = &u
	}
	for _, k := range storeCredentialFields[source] {
		if v := strings.TrimSpace(c.PostForm(k)); v != "" {
			if in.Credentials == nil {
				in.Credentials = map[string]string{}
			}
			in.Credentials[k] = v
		} else if c.PostForm("forget_"+k) == "true" {
			if in.Credentials == nil {
				in.Credentials = map[string]string{}
			}
			in.Credentials[k] = ""
		}
	}
}

func handleUIShopReconcile(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, id); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		msg := "reconciled"
		if cfg.Reconciler == nil {
			msg = "reconcile-unavailable"
		} else if _, err := cfg.Reconciler.Run(ctx, id, "manual"); err != nil {
			msg = "reconcile-failed"
			if errors.Is(err, connectors.ErrStoreNotConnected) {
				msg = "reconcile-not-connected"
			}
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/shops/%d?msg=%s#store-api", id, msg))
	}
}

// storeCredField is one write-only store credential input of the shop form.
type storeCredField struct {
	Name, Label, Placeholder, Help string
	Set                            bool
}

// storeCred builds a store credential input for the "store_cred" template.
func storeCred(p shopFormPage, name, label, placeholder, help string) storeCredField {
	return storeCredField{Name: name, Label: label, Placeholder: placeholder, Help: help, Set: p.StoreAPI.Set[name]}
}

func handleUIShopConnect(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, id); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		msg := "webhooks-connected"
		if cfg.Webhooks == nil {
			msg = "reconcile-unavailable"
		} else if _, err := cfg.Webhooks.ConnectWebhooks(ctx, id); err != nil {
			msg = "webhooks-failed"
			if errors.Is(err, connectors.ErrStoreNotConnected) {
				msg = "reconcile-not-connected"
			}
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/shops/%d?msg=%s#store-api", id, msg))
	}
}

// accountedView is one period of the accounted-for figure as the shop page
// draws it: one bar per platform, its width the share accounted for.
type accountedView struct {
	Period    string
	Paid      int64
	Webhook   int64
	Recovered int64
	TooOld    int64
	Platforms []accountedBar
}

type accountedBar struct {
	Label    string
	Percent  int
	Share    string
	Accepted int64
	Skipped  int64
	Failed   int64
	Waiting  int64
}

func accountedViews(ctx context.Context, st *store.Store, shopID int64, now time.Time) ([]accountedView, error) {
	periods, err := accountedFor(ctx, st, shopID, now)
	if err != nil {
		return nil, err
	}
	out := make([]accountedView, 0, len(periods))
	for _, p := range periods {
		v := accountedView{Period: p.Period, Paid: p.PaidInStore, Webhook: p.ReceivedByWebhook, Recovered: p.RecoveredByReconciliation, TooOld: p.TooOld}
		for _, pl := range p.Platforms {
			b := accountedBar{Label: platformLabel(pl.Platform), Share: "—", Accepted: pl.Accepted, Failed: pl.Failed, Waiting: pl.Waiting}
			for _, n := range pl.Skipped {
				b.Skipped += n
			}
			if pl.Share != nil {
				b.Percent = int(math.Round(*pl.Share * 100))
				b.Share = fmt.Sprintf("%d%%", b.Percent)
			}
			v.Platforms = append(v.Platforms, b)
		}
		out = append(out, v)
	}
	return out, nil
}

// shopAccounted is one shop's row of the dashboard's accounted-for chart.
type shopAccounted struct {
	ShopID int64
	Shop   string
	accountedView
}

// dashboardAccounted is the accounted-for figure of every shop with paid
// orders over the dashboard's window (24h or 7d).
func dashboardAccounted(ctx context.Context, st *store.Store, shops []store.Shop, window string, now time.Time) ([]shopAccounted, error) {
	var out []shopAccounted
	for _, sh := range shops {
		views, err := accountedViews(ctx, st, sh.ID, now)
		if err != nil {
			return nil, err
		}
		for _, v := range views {
			if v.Period == window && v.Paid > 0 {
				out = append(out, shopAccounted{ShopID: sh.ID, Shop: sh.Name, accountedView: v})
			}
		}
	}
	return out, nil
}
