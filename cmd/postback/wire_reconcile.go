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
	return reconcile.New(reconcile.Config{
		Store: st, Routing: routing, Connectors: newConnectors(), Notify: notify, Log: log,
		Interval: cfg.ReconcileInterval,
		Listers: map[mapping.Source]connectors.OrderLister{
			mapping.SourceShopify:     connectors.NewShopifyAdmin(client),
			mapping.SourceWooCommerce: connectors.NewWooCommerceREST(client),
			mapping.SourceStripe:      connectors.NewStripeAPI(cfg.PlatformURLs["stripe"], client),
		},
	})
}
