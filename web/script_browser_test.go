package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// fakeStorefront serves a store's pages that include the script from
// Postback (another origin, as in production) and records what reaches
// its Shopify Ajax Cart endpoint.
type fakeStorefront struct {
	postback, publicID string
	// pixel is a Shopify custom pixel served at /pixel inside stubs of the
	// Web Pixels sandbox's globals.
	pixel string
	// woo is a WooCommerce thank-you page's pixel code (PurchasePixels),
	// served at /woo as the mu-plugin prints it.
	woo   string
	mu    sync.Mutex
	carts []map[string]map[string]string
}

func (f *fakeStorefront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/cart/update.js" {
		var body map[string]map[string]string
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad cart update", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.carts = append(f.carts, body)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"token":"cart-token","attributes":{}}`)
		return
	}
	if r.URL.Path == "/woo" {
		// The mu-plugin's thank-you page: Postback's script (wp_head), then
		// the pixels behind the consent gate.
		consent := ""
		if r.URL.Query().Get("consent") == "required" {
			consent = ` data-consent="required"`
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head>%s<script src="%s/js/postback.js" data-shop="%s"%s async></script>
<script>(%s)((%s), "purchase-77", 42.5, "EUR");</script></head><body>thanks</body></html>`,
			fakePixels, f.postback, f.publicID, consent, web.WooPixelGate, f.woo)
		return
	}
	if r.URL.Path == "/pixel" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head>`+fakePixels+`<script>
var handlers = {};
var analytics = { subscribe: function (name, fn) { handlers[name] = fn; return Promise.resolve(); } };
var browser = { cookie: {
  get: function (n) { var m = document.cookie.match(new RegExp("(?:^|; )" + n + "=([^;]*)")); return Promise.resolve(m ? m[1] : ""); },
  set: function (c) { document.cookie = c; return Promise.resolve(c); } } };
var init = { customerPrivacy: { marketingAllowed: true, analyticsProcessingAllowed: true } };
</script><script>%s</script></head><body>pixel</body></html>`, f.pixel)
		return
	}
	q := r.URL.Query()
	extra := ""
	if q.Get("consent") == "required" {
		extra += ` data-consent="required"`
	}
	if ref := q.Get("order_ref"); ref != "" {
		extra += ` data-order-ref="` + ref + `" data-event-id="purchase-1042"`
	}
	shopify := `<script>window.Shopify = {routes: {root: "/"}};</script>`
	if q.Get("platform") == "none" {
		shopify = ""
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><title>shop</title>%s
<script src="%s/js/postback.js" data-shop="%s"%s async></script></head><body><p id="page">%s</p></body></html>`,
		shopify, f.postback, f.publicID, extra, r.URL.Path)
}

// fakePixels stands in for the platforms' browser pixels: each global the
// pixels' base code looks for first is a function that records its calls
// in window.calls, so no pixel script is loaded.
const fakePixels = `<script>
var calls = [];
function rec(name) { return function () { calls.push([name].concat(Array.prototype.slice.call(arguments))); }; }
window.fbq = rec("fbq"); window.pintrk = rec("pintrk"); window.snaptr = rec("snaptr"); window.rdt = rec("rdt");
window.ttq = { load: rec("ttq.load"), track: rec("ttq.track") };
</script>`

func (f *fakeStorefront) cartUpdates() []map[string]map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]map[string]string(nil), f.carts...)
}

// TestScriptInBrowser runs postback.js in headless Chromium: landing with
// click ids sets the first-party cookie with the click time; a later page
// attaches them to the cart; consent off stores nothing until consent is
// given; the thank-you page posts the beacon across origins.
func TestScriptInBrowser(t *testing.T) {
	ctx := chromium(t)
	h := newHarness(t)
	sh, err := h.store.CreateShop(context.Background(), store.Shop{
		Name: "Acme", Source: mapping.SourceShopify, SigningSecret: "s", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	front := &fakeStorefront{postback: h.srv.URL, publicID: sh.PublicID}
	shopSrv := httptest.NewServer(front)
	t.Cleanup(shopSrv.Close)

	run := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	loaded := chromedp.Poll[chromedp.Void](`window.Postback && window.Postback._loaded`, chromedp.WithPollingTimeout(10*time.Second))
	stored := func() map[string]any {
		t.Helper()
		raw := eval(`(document.cookie.match(/(?:^|; )_postback=([^;]*)/) || [,""])[1]`)
		if raw == "" {
			return nil
		}
		s, err := url.QueryUnescape(raw)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("cookie %q: %v", s, err)
		}
		return m
	}

	// Consent mode on and no consent: nothing is stored.
	run("consent-required landing", chromedp.Navigate(shopSrv.URL+"/landing?consent=required&platform=none&fbclid=IwAR-noconsent"), loaded)
	if m := stored(); m != nil {
		t.Fatalf("stored %v before consent", m)
	}
	run("give consent", chromedp.Evaluate[chromedp.Void](`Postback.consent({ad_user_data: true, ad_personalization: true, analytics: true}); "ok"`))
	if m := stored(); m == nil {
		t.Fatal("nothing stored after Postback.consent")
	}
	run("clear", chromedp.Evaluate[chromedp.Void](`document.cookie = "_postback=; path=/; max-age=0"; "ok"`))
	// Google Consent Mode: a denial stores nothing, a later grant does.
	run("consent mode denied", chromedp.Navigate(shopSrv.URL+"/landing?consent=required&platform=none&gclid=Cj0-consent-mode"), loaded,
		chromedp.Evaluate[chromedp.Void](`function gtag(){dataLayer.push(arguments)}
			gtag("consent", "default", {ad_user_data: "denied", ad_storage: "denied"}); "ok"`))
	if m := stored(); m != nil {
		t.Fatalf("stored %v with consent denied", m)
	}
	run("consent mode granted", chromedp.Evaluate[chromedp.Void](`gtag("consent", "update", {ad_user_data: "granted", ad_storage: "granted"}); "ok"`))
	if m := stored(); m == nil {
		t.Fatal("nothing stored after gtag consent update")
	}
	run("clear again", chromedp.Evaluate[chromedp.Void](`document.cookie = "_postback=; path=/; max-age=0"; "ok"`))

	// Landing with click ids: the cookie keeps each with its time.
	before := time.Now().Unix()
	run("landing", chromedp.Navigate(shopSrv.URL+"/products/trail?fbclid=IwAR-landing-click&gclid=Cj0-landing&ttclid=E.C.P.tt&utm_source=facebook&platform=none"), loaded)
	m := stored()
	clicks, _ := m["c"].(map[string]any)
	fb, _ := clicks["fbclid"].(map[string]any)
	if fb["v"] != "IwAR-landing-click" || clicks["gclid"] == nil || clicks["ttclid"] == nil {
		t.Fatalf("cookie after landing = %v", m)
	}
	seen := int64(fb["t"].(float64))
	if seen < before-1 || seen > time.Now().Unix()+1 {
		t.Errorf("fbclid seen at %d, want the landing time ≈ %d", seen, before)
	}
	if u, _ := m["u"].(map[string]any); u["utm_source"] != "facebook" {
		t.Errorf("utm = %v", m["u"])
	}

	// A later page on a Shopify store attaches them to the cart.
	run("set browser cookies", chromedp.Evaluate[chromedp.Void](`document.cookie = "_fbp=fb.1.1715695200123.42; path=/";
		document.cookie = "_scid=3eaec287-scid; path=/"; document.cookie = "_rdt_uuid=1764000000000.ffe44bd4-rdt; path=/";
		document.cookie = "_ttp=ttp-browser-1; path=/"; "ok"`))
	run("later page", chromedp.Navigate(shopSrv.URL+"/cart"), loaded,
		chromedp.Poll[chromedp.Void](`sessionStorage.getItem("_postback_cart") !== null`, chromedp.WithPollingTimeout(10*time.Second)))
	carts := front.cartUpdates()
	if len(carts) == 0 {
		t.Fatal("no cart update")
	}
	attrs := carts[len(carts)-1]["attributes"]
	wantFBC := fmt.Sprintf("fb.1.%d.IwAR-landing-click", seen*1000)
	if attrs["fbclid"] != "IwAR-landing-click" || attrs["gclid"] != "Cj0-landing" || attrs["_fbp"] != "fb.1.1715695200123.42" || attrs["_fbc"] != wantFBC ||
		attrs["_scid"] != "3eaec287-scid" || attrs["_rdt_uuid"] != "1764000000000.ffe44bd4-rdt" || attrs["_ttp"] != "ttp-browser-1" {
		t.Errorf("cart attributes = %v; want fbclid, gclid, _fbp, _fbc %s, _scid, _rdt_uuid and _ttp", attrs, wantFBC)
	}
	// Every attribute is one Postback's connectors read.
	for k := range attrs {
		if mapping.CanonicalClickKey(k) == "" && !strings.HasPrefix(k, "utm_") {
			t.Errorf("cart attribute %q is not read by the Shopify connector", k)
		}
	}
	// A newer click of the same platform wins; the first-seen time of a
	// click seen again is kept.
	run("same click again", chromedp.Navigate(shopSrv.URL+"/again?fbclid=IwAR-landing-click&platform=none"), loaded)
	if got := stored()["c"].(map[string]any)["fbclid"].(map[string]any)["t"].(float64); int64(got) != seen {
		t.Errorf("seen again: time %v, want the first %d", got, seen)
	}

	// The thank-you page posts the beacon to Postback (another origin).
	const ref = "b7c2e91f0d4a4c6e8f3a2d1c9b8e7f60"
	run("thank-you page", chromedp.Navigate(shopSrv.URL+"/thank-you?platform=none&order_ref="+ref), loaded)
	var b mapping.Beacon
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _, err = h.store.Beacon(context.Background(), sh.ID, ref)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no beacon stored: %v", err)
	}
	if b.ClickIDs["fbclid"].Value != "IwAR-landing-click" || b.ClickIDs["fbclid"].SeenAt != seen || b.FBP != "fb.1.1715695200123.42" ||
		b.EventID != "purchase-1042" || !strings.HasPrefix(b.PageURL, shopSrv.URL+"/thank-you") || !strings.Contains(b.UserAgent, "Chrome") {
		t.Errorf("beacon = %+v", b)
	}
	if b.UTM["utm_source"] != "facebook" || b.ClickIDs["ttclid"].Value != "E.C.P.tt" {
		t.Errorf("beacon utm %v, ttclid %v", b.UTM, b.ClickIDs["ttclid"])
	}
	// The browser ids other platforms take travel too, and join the
	// conversion under the names their senders read.
	if b.ClickIDs["scid"].Value != "3eaec287-scid" || b.ClickIDs["rdt_uuid"].Value != "1764000000000.ffe44bd4-rdt" || b.TTP != "ttp-browser-1" || len(b.Dropped) > 0 {
		t.Errorf("beacon browser ids: scid %v, rdt_uuid %v, ttp %q, dropped %v", b.ClickIDs["scid"], b.ClickIDs["rdt_uuid"], b.TTP, b.Dropped)
	}
	var c mapping.Conversion
	c.AddBeacon(b)
	if c.ClickIDs.SCID != "3eaec287-scid" || c.ClickIDs.RDTUUID != "1764000000000.ffe44bd4-rdt" || c.ClickIDs.TTP != "ttp-browser-1" {
		t.Errorf("joined click ids = %+v", c.ClickIDs)
	}
}

// TestShopifyCustomPixelInBrowser runs the generated custom pixel against
// stubs of the Web Pixels globals: page_viewed records the click, and
// checkout_completed posts the beacon named by the checkout token with the
// event id Postback will send.
func TestShopifyCustomPixelInBrowser(t *testing.T) {
	ctx := chromium(t)
	h := newHarness(t)
	sh, err := h.store.CreateShop(context.Background(), store.Shop{
		Name: "Acme", Source: mapping.SourceShopify, SigningSecret: "s",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid, EventIDTemplate: "purchase-{order_id}"},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	front := &fakeStorefront{postback: h.srv.URL, publicID: sh.PublicID, pixel: web.ShopifyCustomPixel(h.srv.URL, sh, nil)}
	shopSrv := httptest.NewServer(front)
	t.Cleanup(shopSrv.Close)
	const token = "c1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6"
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = chromedp.Do(sctx,
		chromedp.Navigate(shopSrv.URL+"/pixel?fbclid=IwAR-pixel-click&utm_source=ig"),
		chromedp.Poll[chromedp.Void](`typeof handlers.checkout_completed === "function"`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate[chromedp.Void](`document.cookie = "_fbp=fb.1.1715695200123.77; path=/";
			document.cookie = "_rdt_uuid=1764000000000.ffe44bd4-px; path=/"; document.cookie = "_scid=scid-px; path=/";
			handlers.page_viewed({context: {document: {location: {href: location.href}}}})`, chromedp.EvalAwaitPromise),
		chromedp.Poll[chromedp.Void](`document.cookie.indexOf("_postback=") >= 0`, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate[chromedp.Void](`handlers.checkout_completed({
			data: {checkout: {token: "`+token+`", order: {id: "gid://shopify/OrderIdentity/5551"}, totalPrice: {amount: 42}, currencyCode: "EUR"}},
			context: {document: {location: {href: location.origin + "/checkouts/c/`+token+`/thank-you"}}}})`, chromedp.EvalAwaitPromise),
	)
	if err != nil {
		t.Fatal(err)
	}
	var b mapping.Beacon
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _, err = h.store.Beacon(context.Background(), sh.ID, token)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no beacon from the custom pixel: %v", err)
	}
	if b.EventID != "purchase-5551" || b.ClickIDs["fbclid"].Value != "IwAR-pixel-click" || b.ClickIDs["fbclid"].SeenAt == 0 ||
		b.FBP != "fb.1.1715695200123.77" || !strings.Contains(b.PageURL, "/thank-you") || b.Consent == nil || b.Consent.Denied() {
		t.Errorf("custom pixel beacon = %+v", b)
	}
	if b.ClickIDs["rdt_uuid"].Value != "1764000000000.ffe44bd4-px" || b.ClickIDs["scid"].Value != "scid-px" {
		t.Errorf("custom pixel beacon browser ids = %v; want _rdt_uuid and _scid", b.ClickIDs)
	}

	// Without marketing consent the pixel sends the consent state alone.
	const refused = "d1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6"
	sctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := chromedp.Do(sctx2, chromedp.Evaluate[chromedp.Void](`init.customerPrivacy.marketingAllowed = false;
		handlers.checkout_completed({data: {checkout: {token: "`+refused+`", order: {id: "5552"}}},
			context: {document: {location: {href: location.href}}}})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		b, _, err = h.store.Beacon(context.Background(), sh.ID, refused)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || !b.Consent.Denied() || b.FBP != "" || len(b.ClickIDs) != 0 || b.PageURL != "" {
		t.Errorf("beacon without consent = %+v, %v; want the consent state alone", b, err)
	}
}

// TestPixelsFireWithServerEventID runs the generated pixel code in
// Chromium against fake pixels: on a Shopify checkout_completed (custom
// pixel) and on a WooCommerce thank-you page, each ticked platform's
// purchase carries the event id Postback sends for that order, in the
// platform's own deduplication field, under the server's event name.
func TestPixelsFireWithServerEventID(t *testing.T) {
	ctx := chromium(t)
	h := newHarness(t)
	sh, err := h.store.CreateShop(context.Background(), store.Shop{
		Name: "Acme", Source: mapping.SourceShopify, SigningSecret: "s",
		Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid, EventIDTemplate: "purchase-{order_id}"},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	front := &fakeStorefront{postback: h.srv.URL, publicID: sh.PublicID,
		pixel: web.ShopifyCustomPixel(h.srv.URL, sh, allPixels), woo: web.PurchasePixels(allPixels)}
	shopSrv := httptest.NewServer(front)
	t.Cleanup(shopSrv.Close)

	// What the server sends: the Shopify connector's event id for order
	// 5551 is the shop's template on the order id.
	shopifyID := sh.Rules.EventID("5551")
	wooID := sh.Rules.EventID("77")
	calls := func(page string, actions ...chromedp.Action[chromedp.Void]) [][]any {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(shopSrv.URL + page)}, actions...)...); err != nil {
			t.Fatal(err)
		}
		out, err := chromedp.Run(sctx, chromedp.Evaluate[[][]any](`calls`))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	shopify := calls("/pixel",
		chromedp.Poll[chromedp.Void](`typeof handlers.checkout_completed === "function"`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Evaluate[chromedp.Void](`handlers.checkout_completed({
			data: {checkout: {token: "e1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6", order: {id: "gid://shopify/OrderIdentity/5551"}, totalPrice: {amount: 42}, currencyCode: "EUR"}},
			context: {document: {location: {href: location.origin + "/thank-you"}}}})`, chromedp.EvalAwaitPromise))
	woo := calls("/woo", chromedp.Poll[chromedp.Void](`calls.some(function (c) { return c[0] === "fbq" && c[1] === "track"; })`,
		chromedp.WithPollingTimeout(10*time.Second)))
	// A shop that requires consent: without it, no pixel fires.
	if got := calls("/woo?consent=required", chromedp.Poll[chromedp.Void](`window.Postback && document.readyState === "complete"`,
		chromedp.WithPollingTimeout(10*time.Second))); len(got) != 0 {
		t.Errorf("woocommerce thank-you without consent: pixel calls %v, want none", got)
	}
	for name, tc := range map[string]struct {
		got     [][]any
		eventID string
	}{"shopify custom pixel": {shopify, shopifyID}, "woocommerce thank-you": {woo, wooID}} {
		t.Run(name, func(t *testing.T) {
			want := map[string]func(c []any) bool{
				"meta": func(c []any) bool {
					return len(c) == 5 && c[0] == "fbq" && c[1] == "track" && c[2] == "Purchase" && field(c[4], "eventID") == tc.eventID
				},
				"tiktok": func(c []any) bool {
					return len(c) == 4 && c[0] == "ttq.track" && c[1] == "Purchase" && field(c[3], "event_id") == tc.eventID
				},
				"pinterest": func(c []any) bool {
					return len(c) == 4 && c[0] == "pintrk" && c[1] == "track" && c[2] == "checkout" && field(c[3], "event_id") == tc.eventID
				},
				"snapchat": func(c []any) bool {
					return len(c) == 4 && c[0] == "snaptr" && c[1] == "track" && c[2] == "PURCHASE" && field(c[3], "client_dedup_id") == tc.eventID
				},
				"reddit": func(c []any) bool {
					return len(c) == 4 && c[0] == "rdt" && c[1] == "track" && c[2] == "Purchase" && field(c[3], "conversionId") == tc.eventID
				},
			}
			inits := map[string]bool{}
			for _, c := range tc.got {
				switch {
				case c[0] == "fbq" && c[1] == "init" && c[2] == "998877665544", c[0] == "ttq.load" && c[1] == "CE2TIKTOKPIXEL",
					c[0] == "pintrk" && c[1] == "load" && c[2] == "2612345678901",
					c[0] == "snaptr" && c[1] == "init" && c[2] == "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
					c[0] == "rdt" && c[1] == "init" && c[2] == "a2_abc123def456":
					inits[fmt.Sprint(c[0])] = true
				}
				for p, ok := range want {
					if ok(c) {
						delete(want, p)
					}
				}
			}
			if len(want) > 0 || len(inits) != 5 {
				t.Errorf("pixel calls %v: no purchase with event id %q for %v; pixels initialised %v", tc.got, tc.eventID, keys(want), inits)
			}
		})
	}
}

// field is a string field of a recorded call's argument object.
func field(v any, name string) string {
	m, _ := v.(map[string]any)
	s, _ := m[name].(string)
	return s
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
