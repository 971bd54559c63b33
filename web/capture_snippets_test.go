package web_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

var update = flag.Bool("update", false, "rewrite golden files")

// allPixels ticks every platform whose browser pixel the snippets fire.
var allPixels = []web.PixelChoice{
	{Platform: "meta", PixelID: "998877665544"},
	{Platform: "tiktok", PixelID: "CE2TIKTOKPIXEL"},
	{Platform: "pinterest", PixelID: "2612345678901"},
	{Platform: "snapchat", PixelID: "a1b2c3d4-e5f6-7890-abcd-ef1234567890"},
	{Platform: "reddit", PixelID: "a2_abc123def456"},
}

func goldenShop() store.Shop {
	return store.Shop{ID: 7, Name: "Acme", PublicID: "pub_Acme0123456789", Source: mapping.SourceShopify,
		Rules: mapping.ShopRules{EventIDTemplate: "purchase-{order_id}"}}
}

// checkGoldenText compares got with testdata/capture/name, rewriting it
// with -update.
func checkGoldenText(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "capture", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", name, got)
	}
}

// TestCaptureSnippetsGolden pins the generated custom pixel and
// WooCommerce mu-plugin with every pixel ticked, and checks each
// platform's pixel gets the event id in its own deduplication field.
func TestCaptureSnippetsGolden(t *testing.T) {
	sh := goldenShop()
	pixel := web.ShopifyCustomPixel("https://postback.example.com", sh, allPixels)
	checkGoldenText(t, "shopify_custom_pixel_all.golden.js", pixel)
	checkGoldenText(t, "shopify_custom_pixel_none.golden.js", web.ShopifyCustomPixel("https://postback.example.com", sh, nil))
	woo := sh
	woo.Source = mapping.SourceWooCommerce
	wooText := web.WooCommerceSnippet("https://postback.example.com", woo, allPixels)
	checkGoldenText(t, "woocommerce_all.golden.php", wooText)
	for _, want := range []string{
		`{ eventID: eventId }`, `{ event_id: eventId }`, `event_id: eventId }`, `client_dedup_id: eventId`, `conversionId: eventId`,
		`fbq("init", "998877665544")`, `ttq.load("CE2TIKTOKPIXEL")`, `pintrk("load", "2612345678901")`,
		`snaptr("init", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", {})`, `rdt("init", "a2_abc123def456")`,
	} {
		for name, text := range map[string]string{"custom pixel": pixel, "woocommerce": wooText} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
	}
	// The Woo thank-you page derives the event id exactly as the
	// WooCommerce connector does.
	if !strings.Contains(wooText, `str_replace('{order_id}', (string) $order->get_id(), 'purchase-{order_id}')`) {
		t.Errorf("woocommerce event id is not the shop's template on get_id()")
	}
}
