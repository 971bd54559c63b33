package web

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// shopValues are a shop form's fields as the form shows them. Secrets are
// never among them: the form shows only whether they are set.
type shopValues struct {
	Name                    string
	Trigger                 string
	ValueRule               string
	Currency                string
	EventIDTemplate         string
	SendZeroValue           bool
	StripeRenewals          bool
	StripeSubscriptionEvent string
	PaidStatuses            string
	AttributeNames          string
}

type shopFormPage struct {
	page
	Creating bool
	Shop     shopView
	Source   string
	Values   shopValues
	Errors   map[string]string
	// SecretTyped and KeyTyped say a refused form carried a secret, which
	// is not sent back: the merchant pastes it again.
	SecretTyped bool
	KeyTyped    bool
	StoreAPI    storeAPIView
}

// shopView is what pages show of a shop: its secrets only as set or not.
type shopView struct {
	ID                int64
	Name              string
	Source            string
	Trigger           string
	SecretSet         bool
	PreviousSecretSet bool
	// PreviousSecretExpires is when the previous secret stops being
	// accepted (zero when none is).
	PreviousSecretExpires time.Time
	StripeKeySet          bool
	// SecretsError says why a stored secret cannot be decrypted.
	SecretsError    string
	EventIDTemplate string
	CreatedAt       time.Time
}

func viewShop(sh store.Shop, now time.Time) shopView {
	v := shopView{
		ID: sh.ID, Name: sh.Name, Source: string(sh.Source), Trigger: string(sh.Rules.Trigger),
		SecretSet: sh.SigningSecret != "", PreviousSecretSet: sh.PreviousSecretActive(now), StripeKeySet: sh.StripeAPIKey != "",
		SecretsError:    sh.SealError,
		EventIDTemplate: sh.Rules.EventIDTemplate, CreatedAt: sh.CreatedAt,
	}
	if v.PreviousSecretSet {
		v.PreviousSecretExpires = sh.PreviousSecretExpiresAt
	}
	return v
}

func valuesOf(sh store.Shop) shopValues {
	s := toShopJSON("", sh, time.Time{}).Settings
	names := make([]string, 0, len(s.AttributeNames))
	for k := range s.AttributeNames {
		names = append(names, k)
	}
	sort.Strings(names)
	lines := make([]string, 0, len(names))
	for _, k := range names {
		lines = append(lines, k+" = "+s.AttributeNames[k])
	}
	trigger := string(sh.Rules.Trigger)
	if trigger == "" {
		trigger = string(mapping.TriggerPaid)
	}
	return shopValues{
		Name: sh.Name, Trigger: trigger, ValueRule: s.ValueRule, Currency: s.Currency, EventIDTemplate: s.EventIDTemplate,
		SendZeroValue: s.SendZeroValue, StripeRenewals: s.StripeRenewals, StripeSubscriptionEvent: s.StripeSubscriptionEvent,
		PaidStatuses: strings.Join(s.PaidStatuses, ", "), AttributeNames: strings.Join(lines, "\n"),
	}
}

// shopInputFromForm reads a shop form into the API's input, so both share
// one validation. Settings the form does not show for this store keep
// their current values.
func shopInputFromForm(c *gin.Context, sh store.Shop, source mapping.Source, creating bool) (shopInput, shopValues, *fieldError) {
	vals := shopValues{
		Name: c.PostForm("name"), Trigger: c.PostForm("trigger"), ValueRule: c.PostForm("value_rule"),
		Currency: c.PostForm("currency"), EventIDTemplate: c.PostForm("event_id_template"),
		SendZeroValue: c.PostForm("send_zero_value") == "true", StripeRenewals: c.PostForm("stripe_renewals") == "true",
		StripeSubscriptionEvent: c.PostForm("stripe_subscription_event"), PaidStatuses: c.PostForm("paid_statuses"),
		AttributeNames: c.PostForm("attribute_names"),
	}
	in := shopInput{Name: &vals.Name, Trigger: &vals.Trigger}
	if creating {
		src := string(source)
		in.Source = &src
	}
	if secret := strings.TrimSpace(c.PostForm("signing_secret")); secret != "" {
		in.SigningSecret = &secret
	}
	if c.PostForm("forget_previous_secret") == "true" {
		none := ""
		in.PreviousSigningSecret = &none
	}
	if ttl := strings.TrimSpace(c.PostForm("previous_signing_secret_ttl")); ttl != "" && in.SigningSecret != nil {
		in.PreviousSigningSecretTTL = &ttl
	}
	settings := toShopJSON("", sh, time.Time{}).Settings
	settings.EventIDTemplate, settings.ValueRule, settings.SendZeroValue = vals.EventIDTemplate, vals.ValueRule, vals.SendZeroValue
	switch source {
	case mapping.SourceShopify:
		settings.Currency = vals.Currency
	case mapping.SourceWooCommerce:
		settings.PaidStatuses = splitList(vals.PaidStatuses)
	case mapping.SourceStripe:
		settings.StripeRenewals, settings.StripeSubscriptionEvent = vals.StripeRenewals, vals.StripeSubscriptionEvent
		if key := strings.TrimSpace(c.PostForm("stripe_api_key")); key != "" {
			in.StripeAPIKey = &key
		} else if c.PostForm("forget_stripe_api_key") == "true" {
			none := ""
			in.StripeAPIKey = &none
		}
	}
	if source != mapping.SourceStripe {
		names, bad := parseAttributeNames(vals.AttributeNames)
		if bad != nil {
			return in, vals, bad
		}
		settings.AttributeNames = names
	}
	in.Settings = &settings
	storeAPIFromForm(c, source, &in)
	return in, vals, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseAttributeNames reads "attribute name = click id key" lines.
func parseAttributeNames(s string) (map[string]string, *fieldError) {
	out := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, key, ok := strings.Cut(line, "=")
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		if !ok || name == "" || key == "" {
			return nil, badField("settings.attribute_names", fmt.Sprintf("line %d: write one name = key per line, e.g. _fbc = fbc", i+1))
		}
		out[name] = key
	}
	return out, nil
}

// formErrors puts a validation error beside its form field (the API's
// name without "settings.").
func formErrors(bad *fieldError) map[string]string {
	return map[string]string{strings.TrimPrefix(bad.Field, "settings."): bad.Detail()}
}

type shopListPage struct {
	page
	Shops []shopListRow
}

type shopListRow struct {
	shopView
	Destinations int
	// Health is the shop's worst problem now (bad, warn) or good; Problem
	// says the first one.
	Health  string
	Problem string
}

func handleUIShopList(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		shops, err := cfg.Store.Shops(ctx)
		if err != nil {
			v.storeFail(c, err, "shops")
			return
		}
		problems, err := loadProblems(ctx, cfg, shops, cfg.Now().UTC())
		if err != nil {
			v.storeFail(c, err, "health")
			return
		}
		health := shopHealth(problems)
		p := shopListPage{page: pageFor(c, "Shops", "shops")}
		for _, sh := range shops {
			ds, err := cfg.Store.Destinations(ctx, sh.ID)
			if err != nil {
				v.storeFail(c, err, "destinations")
				return
			}
			row := shopListRow{shopView: viewShop(sh, cfg.Now()), Destinations: len(ds), Health: health[sh.ID]}
			if row.Health == "" {
				row.Health = healthGood
			}
			for _, pr := range problems {
				if pr.ShopID == sh.ID {
					row.Problem = pr.Title
					break
				}
			}
			p.Shops = append(p.Shops, row)
		}
		v.render(c, http.StatusOK, "shops", p)
	}
}

func handleUIShopNew(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := shopFormPage{page: pageFor(c, "Add a shop", "shops"), Creating: true, Source: c.Query("source")}
		if !mapping.Source(p.Source).Valid() {
			p.Source = ""
		}
		p.Shop.Source = p.Source
		p.Values = valuesOf(store.Shop{})
		v.render(c, http.StatusOK, "shop_form", p)
	}
}

func handleUIShopCreate(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		source := mapping.Source(c.PostForm("source"))
		p := shopFormPage{page: pageFor(c, "Add a shop", "shops"), Creating: true, Source: string(source)}
		var sh store.Shop
		var api store.StoreAPI
		apiChanged := false
		in, vals, bad := shopInputFromForm(c, sh, source, true)
		if bad == nil {
			bad = applyShopInput(&sh, in, true, cfg.Now())
		}
		if bad == nil {
			apiChanged, bad = applyStoreAPIInput(&sh, &api, in)
		}
		if bad != nil {
			if !source.Valid() {
				p.Source = ""
			}
			p.Shop.Source, p.Values, p.Errors = p.Source, vals, formErrors(bad)
			p.SecretTyped, p.KeyTyped = c.PostForm("signing_secret") != "", c.PostForm("stripe_api_key") != ""
			p.StoreAPI = storeAPIView{URL: c.PostForm("store_url"), Set: map[string]bool{}}
			v.render(c, http.StatusUnprocessableEntity, "shop_form", p)
			return
		}
		sh, err := cfg.Store.CreateShop(c.Request.Context(), sh, cfg.Now())
		if err != nil {
			v.storeFail(c, err, "shop")
			return
		}
		if apiChanged {
			api.ShopID = sh.ID
			if err := cfg.Store.SaveStoreAPI(c.Request.Context(), api, cfg.Now()); err != nil {
				v.storeFail(c, err, "shop")
				return
			}
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/shops/%d?msg=shop-created", sh.ID))
	}
}

type shopPage struct {
	page
	Shop         shopView
	Settings     shopSettings
	WebhookURL   string
	Created      bool
	Destinations []destinationView
	Platforms    []platformChoice
	StoreAPI     storeAPIView
	Msg          string
	Accounted    []accountedView

	// LastWebhook is the newest webhook stored for the shop (nil when
	// none); Rejected sums the webhooks refused in the last 7 days by
	// reason, newest last refusal first.
	LastWebhook *store.Event
	Rejected    []rejectionView
	Problems    []problem
	// URLWarning says why a store cannot reach the webhook URL (a local or
	// private address) or should not use it (plain http); empty when fine.
	URLWarning string
	Capture    captureView
}

type rejectionView struct {
	store.Rejection
	Text, Fix string
}

// destinationView is what lists show of a destination: never a credential
// value except the first non-secret one, which names the account.
type destinationView struct {
	ID             int64
	Platform       string
	Account        string
	Enabled        bool
	TestMode       bool
	Status         string
	StatusReason   string
	ThrottledUntil string
	Warnings       []string
}

func viewDestination(d store.Destination, sender platforms.Sender, cfg Config) destinationView {
	j := toDestinationJSON(d, sender, cfg.Now())
	out := destinationView{
		ID: d.ID, Platform: d.Platform, Enabled: d.Enabled, TestMode: j.TestMode,
		Status: j.Status, StatusReason: j.StatusReason, Warnings: j.Warnings,
	}
	if j.ThrottledUntil != nil {
		out.ThrottledUntil = fmtTime(d.ThrottledUntil)
	}
	if sender != nil {
		for _, f := range sender.Fields() {
			if !f.Setting && !f.Secret && d.Credentials[f.Name] != "" {
				out.Account = orDefault(f.Label, f.Name) + " " + d.Credentials[f.Name]
				break
			}
		}
	}
	return out
}

type platformChoice struct {
	Name  string
	Label string
}

func platformChoices(senders map[string]platforms.Sender) []platformChoice {
	out := make([]platformChoice, 0, len(senders))
	for _, n := range platformNames(senders) {
		out = append(out, platformChoice{Name: n, Label: platformLabel(n)})
	}
	return out
}

func handleUIShop(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.Shop(ctx, id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		ds, err := cfg.Store.Destinations(ctx, id)
		if err != nil {
			v.storeFail(c, err, "destinations")
			return
		}
		p := shopPage{
			page: pageFor(c, sh.Name, "shops"), Shop: viewShop(sh, cfg.Now()), Settings: toShopJSON(cfg.PublicURL, sh, time.Time{}).Settings,
			WebhookURL: WebhookURL(cfg.PublicURL, sh), Created: c.Query("msg") == "shop-created",
			Platforms: platformChoices(cfg.Senders), URLWarning: webhookURLWarning(cfg.PublicURL),
		}
		for _, d := range ds {
			p.Destinations = append(p.Destinations, viewDestination(d, cfg.Senders[d.Platform], cfg))
		}
		if p.StoreAPI, err = loadStoreAPIView(ctx, cfg.Store, sh); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		p.Msg = c.Query("msg")
		if p.Accounted, err = accountedViews(ctx, cfg.Store, sh.ID, cfg.Now()); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}

		if last, err := cfg.Store.LastEvent(ctx, sh.ID); err == nil {
			p.LastWebhook = &last
		} else if !errors.Is(err, store.ErrNotFound) {
			v.storeFail(c, err, "webhooks")
			return
		}
		rejected, err := cfg.Store.RejectionsSince(ctx, cfg.Now().Add(-7*24*time.Hour))
		if err != nil {
			v.storeFail(c, err, "webhooks")
			return
		}
		for _, r := range rejected {
			if r.ShopID == sh.ID {
				p.Rejected = append(p.Rejected, rejectionView{Rejection: r, Text: rejectionText(r.Reason), Fix: rejectionFix(r.Reason, sourceLabel(sh.Source))})
			}
		}
		problems, err := loadProblems(ctx, cfg, []store.Shop{sh}, cfg.Now().UTC())
		if err != nil {
			v.storeFail(c, err, "health")
			return
		}
		for _, pr := range problems {
			if pr.ShopID == sh.ID {
				p.Problems = append(p.Problems, pr)
			}
		}
		p.Capture = viewCapture(cfg, sh, ds, c.QueryArray("pixel"))
		p.StoreAPI.Schedule = reconcileSchedule(cfg.ReconcileEvery)
		v.render(c, http.StatusOK, "shop", p)
	}
}

func handleUIShopEdit(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		sh, err := cfg.Store.Shop(c.Request.Context(), id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		p := shopFormPage{page: pageFor(c, "Edit "+sh.Name, "shops"), Shop: viewShop(sh, cfg.Now()), Source: string(sh.Source), Values: valuesOf(sh)}
		if p.StoreAPI, err = loadStoreAPIView(c.Request.Context(), cfg.Store, sh); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		v.render(c, http.StatusOK, "shop_form", p)
	}
}

func handleUIShopSave(cfg Config, v *views, shops *shopCache) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.Shop(ctx, id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		orig := sh
		api, err := cfg.Store.StoreAPI(ctx, id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		apiChanged := false
		in, vals, bad := shopInputFromForm(c, sh, sh.Source, false)
		if bad == nil {
			bad = applyShopInput(&sh, in, false, cfg.Now())
		}
		if bad == nil {
			apiChanged, bad = applyStoreAPIInput(&sh, &api, in)
		}
		if bad != nil {
			p := shopFormPage{page: pageFor(c, "Edit "+orig.Name, "shops"), Shop: viewShop(orig, cfg.Now()), Source: string(orig.Source), Values: vals, Errors: formErrors(bad),
				SecretTyped: c.PostForm("signing_secret") != "", KeyTyped: c.PostForm("stripe_api_key") != ""}
			p.StoreAPI, _ = loadStoreAPIView(ctx, cfg.Store, orig)
			p.StoreAPI.URL = c.PostForm("store_url")
			v.render(c, http.StatusUnprocessableEntity, "shop_form", p)
			return
		}
		if _, err := cfg.Store.UpdateShop(ctx, sh, cfg.Now()); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		if apiChanged {
			if err := cfg.Store.SaveStoreAPI(ctx, api, cfg.Now()); err != nil {
				v.storeFail(c, err, "This shop")
				return
			}
		}
		shops.forget(sh.WebhookKey)
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/shops/%d?msg=shop-saved", sh.ID))
	}
}

func handleUIShopDelete(cfg Config, v *views, shops *shopCache) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.Shop(ctx, id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		if err := cfg.Store.DeleteShop(ctx, id); err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		shops.forget(sh.WebhookKey)
		c.Redirect(http.StatusSeeOther, "/admin/shops?msg=shop-deleted")
	}
}
