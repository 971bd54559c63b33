package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// shopSettings are a shop's mapping rules as the API shows them.
type shopSettings struct {
	EventIDTemplate         string            `json:"event_id_template"`
	ValueRule               string            `json:"value_rule"`
	Currency                string            `json:"currency"`
	PaidStatuses            []string          `json:"paid_statuses"`
	AttributeNames          map[string]string `json:"attribute_names"`
	SendZeroValue           bool              `json:"send_zero_value"`
	StripeRenewals          bool              `json:"stripe_renewals"`
	StripeSubscriptionEvent string            `json:"stripe_subscription_event"`
	// StoreURL is the store's base URL for its API; nil leaves it as it is.
	StoreURL *string `json:"store_url"`
}

type shopJSON struct {
	ID                       int64  `json:"id"`
	Name                     string `json:"name"`
	Source                   string `json:"source"`
	Trigger                  string `json:"trigger"`
	WebhookURL               string `json:"webhook_url"`
	PublicID                 string `json:"public_id"`
	ScriptTag                string `json:"script_tag"`
	SigningSecretSet         bool   `json:"signing_secret_set"`
	PreviousSigningSecretSet bool   `json:"previous_signing_secret_set"`
	// PreviousSigningSecretExpiresAt is when the previous secret stops
	// being accepted; null when there is none.
	PreviousSigningSecretExpiresAt *string       `json:"previous_signing_secret_expires_at"`
	StripeAPIKeySet                bool          `json:"stripe_api_key_set"`
	Settings                       shopSettings  `json:"settings"`
	CredentialsSet                 []string      `json:"credentials_set"`
	StoreAPI                       *storeAPIJSON `json:"store_api"`
	CreatedAt                      *string       `json:"created_at"`
	UpdatedAt                      *string       `json:"updated_at"`
	// SecretsError says why a stored secret of this shop cannot be
	// decrypted (another key, corrupted data); absent when all open.
	SecretsError string `json:"secrets_error,omitempty"`
}

// shopInput is the body of POST and PATCH; nil fields are left as they are.
type shopInput struct {
	Name                  *string `json:"name"`
	Source                *string `json:"source"`
	SigningSecret         *string `json:"signing_secret"`
	PreviousSigningSecret *string `json:"previous_signing_secret"`
	// PreviousSigningSecretTTL is how long the secret being replaced (or a
	// previous_signing_secret given) stays accepted: a duration such as
	// "24h" (the default), "90m" or "0" (not at all), at most 168h.
	PreviousSigningSecretTTL *string       `json:"previous_signing_secret_ttl"`
	Trigger                  *string       `json:"trigger"`
	Settings                 *shopSettings `json:"settings"`
	StripeAPIKey             *string       `json:"stripe_api_key"`
	// Credentials are the store API's write-only keys; "" removes one.
	Credentials map[string]string `json:"credentials"`
}

// WebhookURL is the URL a merchant pastes into the store for a shop.
func WebhookURL(publicURL string, sh store.Shop) string {
	return strings.TrimRight(publicURL, "/") + "/webhooks/" + string(sh.Source) + "/" + sh.WebhookKey
}

// DefaultPreviousSecretTTL is how long a rotated-out signing secret stays
// accepted unless the rotation says otherwise. Stripe's "Roll secret"
// keeps the old endpoint secret signing for at most 24 hours (Dashboard ›
// Webhooks › Roll secret, checked 2026-12-03), so a day covers every store.
const DefaultPreviousSecretTTL = 24 * time.Hour

// maxPreviousSecretTTL bounds the overlap a rotation may ask for.
const maxPreviousSecretTTL = 7 * 24 * time.Hour

func toShopJSON(publicURL string, sh store.Shop, now time.Time) shopJSON {
	r := sh.Rules
	var expires *string
	if sh.PreviousSecretActive(now) {
		expires = timeOrNil(sh.PreviousSecretExpiresAt)
	}
	return shopJSON{
		ID: sh.ID, Name: sh.Name, Source: string(sh.Source), Trigger: string(r.Trigger),
		WebhookURL: WebhookURL(publicURL, sh), PublicID: sh.PublicID, ScriptTag: ScriptTag(publicURL, sh), SigningSecretSet: sh.SigningSecret != "",
		PreviousSigningSecretSet: sh.PreviousSecretActive(now), PreviousSigningSecretExpiresAt: expires,
		StripeAPIKeySet: sh.StripeAPIKey != "", SecretsError: sh.SealError,
		Settings: shopSettings{
			EventIDTemplate: r.EventIDTemplate, ValueRule: string(orDefault(string(r.ValueRule), string(mapping.ValueTotal))),
			Currency: orDefault(string(r.Currency), string(mapping.CurrencyShop)), PaidStatuses: nonNilSlice(r.PaidStatuses),
			AttributeNames: nonNilMap(r.AttributeNames), SendZeroValue: r.SendZeroValue, StripeRenewals: r.StripeRenewals,
			StripeSubscriptionEvent: orDefault(r.StripeSubscriptionEvent, mapping.EventPurchase),
		},
		CreatedAt: timeOrNil(sh.CreatedAt), UpdatedAt: timeOrNil(sh.UpdatedAt),
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// applyShopInput validates in and applies it to sh. It returns what is
// invalid, naming the field, or nil. The API and the admin UI share it.
func applyShopInput(sh *store.Shop, in shopInput, creating bool, now time.Time) *fieldError {
	ttl := DefaultPreviousSecretTTL
	if in.PreviousSigningSecretTTL != nil {
		v := strings.TrimSpace(*in.PreviousSigningSecretTTL)
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 || d > maxPreviousSecretTTL {
			return badField("previous_signing_secret_ttl", "must be a duration from 0 to 168h, such as 24h or 90m")
		}
		ttl = d
	}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" || len(name) > 200 {
			return badField("name", "must be 1 to 200 characters")
		}
		sh.Name = name
	} else if creating {
		return badField("name", "is required")
	}
	if in.Source != nil {
		if !creating {
			return badField("source", "cannot be changed; create another shop")
		}
		src := mapping.Source(strings.TrimSpace(*in.Source))
		if !src.Valid() {
			return badField("source", "must be one of shopify, woocommerce, stripe")
		}
		sh.Source = src
	} else if creating {
		return badField("source", "is required (shopify, woocommerce or stripe)")
	}
	if in.Trigger != nil {
		t := mapping.Trigger(strings.TrimSpace(*in.Trigger))
		if !t.Valid() {
			return badField("trigger", "must be paid or fulfilled")
		}
		sh.Rules.Trigger = t
	} else if creating {
		sh.Rules.Trigger = mapping.TriggerPaid
	}
	if in.SigningSecret != nil {
		secret := strings.TrimSpace(*in.SigningSecret)
		if len(secret) > 500 {
			return badField("signing_secret", "is too long")
		}
		if !creating && secret != "" && sh.SigningSecret != "" && secret != sh.SigningSecret && in.PreviousSigningSecret == nil {
			// Stores keep signing with the old secret for a while after a
			// rotation (Shopify up to an hour, Stripe up to 24 hours): it
			// stays accepted for ttl, then never again. An empty new
			// secret carries nothing over.
			sh.PreviousSecret, sh.PreviousSecretExpiresAt = sh.SigningSecret, now.Add(ttl)
			if ttl == 0 {
				sh.PreviousSecret, sh.PreviousSecretExpiresAt = "", time.Time{}
			}
		}
		sh.SigningSecret = secret
	}
	if in.PreviousSigningSecret != nil {
		sh.PreviousSecret = strings.TrimSpace(*in.PreviousSigningSecret)
		sh.PreviousSecretExpiresAt = now.Add(ttl)
		if sh.PreviousSecret == "" || ttl == 0 {
			sh.PreviousSecret, sh.PreviousSecretExpiresAt = "", time.Time{}
		}
	} else if in.PreviousSigningSecretTTL != nil && in.SigningSecret == nil && sh.PreviousSecretActive(now) {
		// A new overlap for the secret already kept, counted from now.
		sh.PreviousSecretExpiresAt = now.Add(ttl)
		if ttl == 0 {
			sh.PreviousSecret, sh.PreviousSecretExpiresAt = "", time.Time{}
		}
	}
	if in.StripeAPIKey != nil {
		key := strings.TrimSpace(*in.StripeAPIKey)
		if key != "" && !strings.HasPrefix(key, "rk_") && !strings.HasPrefix(key, "sk_") {
			return badField("stripe_api_key", "must be a restricted key (rk_…)")
		}
		sh.StripeAPIKey = key
	}
	if in.Settings != nil {
		if bad := applySettings(&sh.Rules, *in.Settings); bad != nil {
			return bad
		}
	}
	return nil
}

func applySettings(r *mapping.ShopRules, s shopSettings) *fieldError {
	tpl := strings.TrimSpace(s.EventIDTemplate)
	if tpl != "" && (!strings.Contains(tpl, "{order_id}") || len(tpl) > 200) {
		return badField("settings.event_id_template", "must contain {order_id} (for example purchase-{order_id}), or be empty for the bare order id")
	}
	vr := mapping.ValueRule(s.ValueRule)
	if !vr.Valid() {
		return badField("settings.value_rule", "must be total or subtotal")
	}
	cur := mapping.CurrencyRule(s.Currency)
	if !cur.Valid() {
		return badField("settings.currency", "must be shop or presentment")
	}
	switch s.StripeSubscriptionEvent {
	case "", mapping.EventPurchase, mapping.EventSubscribe:
	default:
		return badField("settings.stripe_subscription_event", "must be Purchase or Subscribe")
	}
	for name, key := range s.AttributeNames {
		if mapping.CanonicalClickKey(key) == "" {
			return &fieldError{Field: "settings.attribute_names", Message: fmt.Sprintf("settings.attribute_names[%q]: %q is not a click id or browser id name", name, key)}
		}
	}
	trigger := r.Trigger
	*r = mapping.ShopRules{
		Trigger: trigger, EventIDTemplate: tpl, ValueRule: vr, Currency: cur, PaidStatuses: s.PaidStatuses,
		AttributeNames: s.AttributeNames, SendZeroValue: s.SendZeroValue, StripeRenewals: s.StripeRenewals,
		StripeSubscriptionEvent: s.StripeSubscriptionEvent,
	}
	return nil
}

func handleShopCreate(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in shopInput
		if !bindJSON(c, &in) {
			return
		}
		var sh store.Shop
		if bad := applyShopInput(&sh, in, true, cfg.Now()); bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		var api store.StoreAPI
		apiChanged, bad := applyStoreAPIInput(&sh, &api, in)
		if bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.CreateShop(ctx, sh, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		if apiChanged {
			api.ShopID = sh.ID
			if err := cfg.Store.SaveStoreAPI(ctx, api, cfg.Now()); err != nil {
				storeError(c, cfg.Log, err, "shop")
				return
			}
		}
		out := toShopJSON(cfg.PublicURL, sh, cfg.Now())
		if err := addStoreAPI(ctx, cfg.Store, sh, &out); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		c.JSON(http.StatusCreated, out)
	}
}

func handleShopList(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		shops, err := cfg.Store.Shops(c.Request.Context())
		if err != nil {
			storeError(c, cfg.Log, err, "shops")
			return
		}
		out := make([]shopJSON, 0, len(shops))
		for _, sh := range shops {
			sj := toShopJSON(cfg.PublicURL, sh, cfg.Now())
			if err := addStoreAPI(c.Request.Context(), cfg.Store, sh, &sj); err != nil {
				storeError(c, cfg.Log, err, "shops")
				return
			}
			out = append(out, sj)
		}
		c.JSON(http.StatusOK, gin.H{"shops": out})
	}
}

func handleShopGet(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		sh, err := cfg.Store.Shop(c.Request.Context(), id)
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		out := toShopJSON(cfg.PublicURL, sh, cfg.Now())
		if err := addStoreAPI(c.Request.Context(), cfg.Store, sh, &out); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

func handleShopUpdate(cfg Config, shops *shopCache) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		var in shopInput
		if !bindJSON(c, &in) {
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.Shop(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		if bad := applyShopInput(&sh, in, false, cfg.Now()); bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		api, err := cfg.Store.StoreAPI(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		apiChanged, bad := applyStoreAPIInput(&sh, &api, in)
		if bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		sh, err = cfg.Store.UpdateShop(ctx, sh, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		if apiChanged {
			if err := cfg.Store.SaveStoreAPI(ctx, api, cfg.Now()); err != nil {
				storeError(c, cfg.Log, err, "shop")
				return
			}
		}
		shops.forget(sh.WebhookKey)
		out := toShopJSON(cfg.PublicURL, sh, cfg.Now())
		if err := addStoreAPI(ctx, cfg.Store, sh, &out); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

func handleShopDelete(cfg Config, shops *shopCache) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.Shop(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		if err := cfg.Store.DeleteShop(ctx, id); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		shops.forget(sh.WebhookKey)
		c.Status(http.StatusNoContent)
	}
}
