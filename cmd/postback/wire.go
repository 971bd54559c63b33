package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// newHTTPClient is the one client for every outbound call: ad platforms,
// their OAuth endpoints and store APIs (stripe-go's backend too). It
// follows no redirect: a 3xx fails the call with platforms.ErrRedirect, so
// headers and bodies carrying tokens never reach another host.
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: platforms.NoRedirect}
}

// newSenders builds one sender per platform, keyed by the platform name
// used in the API.
func newSenders(cfg Config, client *http.Client) map[string]platforms.Sender {
	pc := func(key string) platforms.Config {
		return platforms.Config{BaseURL: cfg.PlatformURLs[key], Client: client, Now: time.Now, Version: version()}
	}
	list := []platforms.Sender{
		platforms.NewMeta(pc("meta")),
		// settings.api picks the interface; the first is the default.
		platforms.NewAPIChoice("google_ads",
			platforms.API{Name: "data_manager", Label: "Google's Data Manager API",
				Sender: platforms.NewGoogleDataManager(pc("google_data_manager"), cfg.PlatformURLs["google_oauth"])},
			platforms.API{Name: "google_ads_api", Label: "Google Ads API uploadClickConversions, for allowlisted developer tokens",
				Sender: platforms.NewGoogleAds(pc("google_ads"), cfg.PlatformURLs["google_oauth"])}),
		platforms.NewTikTok(pc("tiktok")),
		platforms.NewReddit(pc("reddit")),
		platforms.NewLinkedIn(pc("linkedin"), cfg.PlatformURLs["linkedin_oauth"]+"/oauth/v2/accessToken"),
		platforms.NewAPIChoice("microsoft",
			platforms.API{Name: "uet_capi", Label: "UET Conversions API, where Microsoft has enabled it",
				Sender: platforms.NewMicrosoft(pc("microsoft"))},
			platforms.API{Name: "offline_conversions", Label: "offline conversions through the Campaign Management API",
				Sender: platforms.NewMicrosoftOffline(pc("microsoft_ads"), cfg.PlatformURLs["microsoft_oauth"])}),
		platforms.NewPinterest(pc("pinterest")),
		platforms.NewSnapchat(pc("snapchat")),
	}
	out := make(map[string]platforms.Sender, len(list))
	for _, s := range list {
		out[s.Name()] = s
	}
	return out
}

// newConnectors builds one connector per store.
func newConnectors() map[mapping.Source]connectors.Connector {
	list := []connectors.Connector{
		connectors.NewShopify(),
		connectors.NewWooCommerce(),
		connectors.NewStripe(),
	}
	out := make(map[mapping.Source]connectors.Connector, len(list))
	for _, c := range list {
		out[c.Source()] = c
	}
	return out
}

// newEnricher completes conversions before they are sent, from what a
// shop's store API can add: line items of a Stripe Checkout Session, when
// the shop gave a restricted API key. It runs in the delivery worker, never
// in the webhook request, and a failure only means the items stay empty.
func newEnricher(cfg Config, st *store.Store, client *http.Client, log *slog.Logger) delivery.Enricher {
	stripe := connectors.NewStripeEnricher(cfg.PlatformURLs["stripe"], client)
	journey := newJourneyEnricher(st, client, log)
	return func(ctx context.Context, shopID int64, c mapping.Conversion) mapping.Conversion {
		c = journey(ctx, shopID, c)
		if len(c.Items) > 0 || !strings.HasPrefix(c.OrderID, "cs_") {
			return c
		}
		shop, err := st.Shop(ctx, shopID)
		if err != nil || shop.Source != mapping.SourceStripe || shop.StripeAPIKey == "" {
			return c
		}
		enriched, err := stripe.Enrich(ctx, shop.StripeAPIKey, c)
		if err != nil {
			log.WarnContext(ctx, "fetch Stripe line items", slog.Int64("shop_id", shopID), slog.String("error", err.Error()))
			return c
		}
		return enriched
	}
}
