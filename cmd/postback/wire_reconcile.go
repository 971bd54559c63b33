package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/postbackhq/postback/alert"
	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/reconcile"
	"github.com/postbackhq/postback/store"
)

// newReconciler builds the reconciliation job: one order lister per store
// API, the same connectors that map webhooks, and the delivery worker's
// wake-up for backfilled orders.
func newReconciler(cfg Config, st *store.Store, routing store.Routing, client *http.Client, notify func(), log *slog.Logger) *reconcile.Reconciler {
	shopify, woo := connectors.NewShopifyAdmin(client), connectors.NewWooCommerceREST(client)
	stripe := connectors.NewStripeAPI(cfg.PlatformURLs["stripe"], client)
	return reconcile.New(reconcile.Config{
		Store: st, Routing: routing, Connectors: newConnectors(), Notify: notify, Log: log,
		Interval: cfg.ReconcileInterval, OnDemandOnly: cfg.ReconcileInterval == 0, PublicURL: cfg.PublicURL,
		Listers: map[mapping.Source]connectors.OrderLister{
			mapping.SourceShopify: shopify, mapping.SourceWooCommerce: woo, mapping.SourceStripe: stripe,
		},
		Registrars: map[mapping.Source]connectors.Registrar{
			mapping.SourceShopify: shopify, mapping.SourceWooCommerce: woo, mapping.SourceStripe: stripe,
		},
	})
}

// newAlerter builds the alerts loop with its three channel kinds. E-mail
// works only with POSTBACK_SMTP_URL, validated at start.
func newAlerter(cfg Config, st *store.Store, client *http.Client, log *slog.Logger) *alert.Alerter {
	senders := map[string]alert.Sender{"webhook": alert.NewWebhookSender(client), "slack": alert.NewSlackSender(client)}
	if cfg.SMTPURL != "" {
		from := "postback@localhost"
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
			from = "postback@" + u.Hostname()
		}
		if smtpCfg, err := alert.ParseSMTPURL(cfg.SMTPURL, from); err == nil {
			senders["email"] = alert.NewEmailSender(smtpCfg)
		}
	}
	return alert.New(alert.Config{Store: st, Senders: senders, PublicURL: cfg.PublicURL, Log: log})
}

// newJourneyEnricher completes Shopify conversions that carry no click id:
// when the shop gave an Admin API token, the order's customer journey
// (customerJourneySummary) supplies the landing pages Shopify saw. A
// failure only leaves the conversion as it was.
func newJourneyEnricher(st *store.Store, client *http.Client, log *slog.Logger) delivery.Enricher {
	admin := connectors.NewShopifyAdmin(client)
	return func(ctx context.Context, shopID int64, c mapping.Conversion) mapping.Conversion {
		if c.ClickIDs.Any() || c.OrderID == "" {
			return c
		}
		shop, err := st.Shop(ctx, shopID)
		if err != nil || shop.Source != mapping.SourceShopify {
			return c
		}
		api, err := st.StoreAPI(ctx, shopID)
		if err != nil || !reconcile.Connected(shop, api) {
			return c
		}
		j, err := admin.Journey(ctx, reconcile.Credentials(shop, api), c.OrderID)
		if err != nil {
			log.WarnContext(ctx, "read Shopify customer journey", slog.Int64("shop_id", shopID), slog.String("error", err.Error()))
			return c
		}
		return connectors.EnrichFromJourney(c, j, shop.Rules.AttributeNames)
	}
}
