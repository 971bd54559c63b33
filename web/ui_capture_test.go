package web_test

import (
	"context"
	"fmt"
	"html"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

func TestUIShopShowsCaptureSnippets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *web.Config) {
		c.Senders["meta"] = platforms.NewMeta(platforms.Config{BaseURL: "http://127.0.0.1:1"})
	})
	b := h.loggedIn(t)
	ctx := context.Background()
	shops := map[mapping.Source]store.Shop{}
	for _, src := range mapping.Sources {
		sh, err := h.store.CreateShop(ctx, store.Shop{Name: "Acme " + string(src), Source: src, SigningSecret: "s",
			Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid, EventIDTemplate: "purchase-{order_id}"}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		shops[src] = sh
	}
	shopify := shops[mapping.SourceShopify]
	if _, err := h.store.CreateDestination(ctx, store.Destination{ShopID: shopify.ID, Platform: "meta", Enabled: true,
		Credentials: map[string]string{"pixel_id": "998877665544", "access_token": "EAAB-secret-token"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	tag := `<script src="https://postback.example.com/js/postback.js" data-shop="` + shopify.PublicID + `" async></script>`

	p := b.get(t, fmt.Sprintf("/admin/shops/%d", shopify.ID))
	body := html.UnescapeString(p.body)
	mustContain(t, "Shopify shop page", body, tag, `analytics.subscribe("checkout_completed"`, "order_ref: checkout.token",
		`"https://postback.example.com/collect/`+shopify.PublicID+`"`, `const EVENT_ID = "purchase-{order_id}"`, "fire the Meta pixel")
	mustNotContain(t, "Shopify shop page (pixel not ticked)", body, `fbq("init"`, "EAAB-secret-token")

	p = b.get(t, fmt.Sprintf("/admin/shops/%d?pixel=meta", shopify.ID))
	body = html.UnescapeString(p.body)
	mustContain(t, "Shopify shop page with the Meta pixel ticked", body, `fbq("init", "998877665544")`, "{ eventID: eventId }")
	mustNotContain(t, "Shopify shop page with the Meta pixel ticked", body, "EAAB-secret-token")

	woo := shops[mapping.SourceWooCommerce]
	p = b.get(t, fmt.Sprintf("/admin/shops/%d", woo.ID))
	mustContain(t, "WooCommerce shop page", html.UnescapeString(p.body), "woocommerce_thankyou", "$order->get_order_key()",
		`data-shop="`+woo.PublicID+`"`, "woocommerce_checkout_create_order", "'purchase-{order_id}'")
	// Pixels named by each platform's own destination values: Reddit's
	// pixel id, Snapchat's pixel id, Pinterest's tag id setting.
	for _, d := range []store.Destination{
		{Platform: "reddit", Credentials: map[string]string{"pixel_id": "a2_reddit_px", "access_token": "reddit-secret-token"}},
		{Platform: "snapchat", Credentials: map[string]string{"pixel_id": "snap-px-uuid", "access_token": "snap-secret-token"}},
		{Platform: "pinterest", Credentials: map[string]string{"ad_account_id": "549755885175", "access_token": "pina-secret-token"},
			Settings: map[string]string{"tag_id": "2612345678901"}},
	} {
		d.ShopID, d.Enabled = woo.ID, true
		if _, err := h.store.CreateDestination(ctx, d, time.Now()); err != nil {
			t.Fatalf("create %s: %v", d.Platform, err)
		}
	}
	p = b.get(t, fmt.Sprintf("/admin/shops/%d?pixel=reddit&pixel=snapchat&pixel=pinterest", woo.ID))
	body = html.UnescapeString(p.body)
	mustContain(t, "WooCommerce shop page with pixels ticked", body, "fire the Reddit pixel", `rdt("init", "a2_reddit_px")`,
		`snaptr("init", "snap-px-uuid", {})`, `pintrk("load", "2612345678901")`, "conversionId: eventId", "client_dedup_id: eventId",
		"$pixels = <<<'POSTBACK_PIXELS'")
	mustNotContain(t, "WooCommerce shop page with pixels ticked", body, "reddit-secret-token", "snap-secret-token", "pina-secret-token")
	// A Pinterest destination without its tag id cannot fire the tag: the
	// page says what to set.
	if _, err := h.store.CreateDestination(ctx, store.Destination{ShopID: shopify.ID, Platform: "pinterest", Enabled: true,
		Credentials: map[string]string{"ad_account_id": "549755885175", "access_token": "pina-secret-token"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	p = b.get(t, fmt.Sprintf("/admin/shops/%d", shopify.ID))
	mustContain(t, "Shopify shop page with a Pinterest destination without tag id", html.UnescapeString(p.body), "Tag ID to fire the Pinterest tag")

	st := shops[mapping.SourceStripe]
	p = b.get(t, fmt.Sprintf("/admin/shops/%d", st.ID))
	mustContain(t, "Stripe shop page", html.UnescapeString(p.body), "Postback.attributes()", "Postback.purchase")
}
