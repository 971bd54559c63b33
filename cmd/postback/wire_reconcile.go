package main

import (
	"log/slog"
	"net/http"

	"github.com/postbackhq/postback/connectors"
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
		Interval: cfg.ReconcileInterval, PublicURL: cfg.PublicURL,
		Listers: map[mapping.Source]connectors.OrderLister{
			mapping.SourceShopify: shopify, mapping.SourceWooCommerce: woo, mapping.SourceStripe: stripe,
		},
		Registrars: map[mapping.Source]connectors.Registrar{
			mapping.SourceShopify: shopify, mapping.SourceWooCommerce: woo, mapping.SourceStripe: stripe,
		},
	})
}
