package web

import (
	"encoding/json"
	"strings"

	"github.com/postbackhq/postback/store"
)

// PixelChoice is a platform whose browser pixel the generated snippets can
// fire with the event id Postback sends, and the id that names the pixel.
type PixelChoice struct {
	Platform string
	PixelID  string
}

// jsString quotes s as a JavaScript (JSON) string literal safe inside a
// <script> element.
func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(string(b))
}

// eventIDTemplate is the shop's event id template in the form the
// snippets fill in ("{order_id}" when the shop has none).
func eventIDTemplate(sh store.Shop) string {
	if sh.Rules.EventIDTemplate == "" {
		return "{order_id}"
	}
	return sh.Rules.EventIDTemplate
}

// ShopifyCustomPixel is the code a merchant pastes into Shopify admin ›
// Settings › Customer events › Add custom pixel. It records click ids on
// page_viewed (into the same first-party cookie the theme script uses),
// and on checkout_completed posts the beacon with the checkout token as
// order_ref, then fires the chosen platforms' pixels with the event id
// Postback will send.
//
// Web Pixels API (shopify.dev/docs/api/web-pixels-api, read 2026-12-03):
// custom pixels get the globals analytics, browser and init;
// analytics.subscribe('checkout_completed', e => …) with
// e.data.checkout.token and e.data.checkout.order.id;
// browser.cookie.get(name) and browser.cookie.set(cookie) return promises;
// e.context.document.location.href is the page URL; init.customerPrivacy
// holds the visitor's consent.
func ShopifyCustomPixel(publicURL string, sh store.Shop, pixels []PixelChoice) string {
	var b strings.Builder
	b.WriteString(`// Postback custom pixel for ` + strings.ReplaceAll(sh.Name, "\n", " ") + `.
// Shopify admin › Settings › Customer events › Add custom pixel; paste, save, Connect.
const POSTBACK = ` + jsString(strings.TrimRight(publicURL, "/")+"/collect/"+sh.PublicID) + `;
const EVENT_ID = ` + jsString(eventIDTemplate(sh)) + `;
const CLICKS = ["fbclid", "gclid", "gbraid", "wbraid", "ttclid", "rdt_cid", "msclkid", "li_fat_id", "epik", "ScCid"];
const now = () => Math.floor(Date.now() / 1000);
async function state() {
  try { return JSON.parse(decodeURIComponent(await browser.cookie.get("_postback"))) || {}; } catch (e) { return {}; }
}
function consent() {
  const p = (init && init.customerPrivacy) || {};
  return { ad_user_data: p.marketingAllowed !== false, ad_personalization: p.marketingAllowed !== false,
           analytics: p.analyticsProcessingAllowed !== false };
}
analytics.subscribe("page_viewed", async (event) => {
  let q;
  try { q = new URL(event.context.document.location.href).searchParams; } catch (e) { return; }
  const s = await state(); s.c = s.c || {}; let changed = false;
  for (const k of CLICKS) {
    const v = q.get(k) || q.get(k.toLowerCase());
    if (v && (!s.c[k] || s.c[k].v !== v)) { s.c[k] = { v: v, t: now() }; changed = true; }
  }
  if (changed) await browser.cookie.set("_postback=" + encodeURIComponent(JSON.stringify(s)) + "; path=/; max-age=7776000; SameSite=Lax");
});
analytics.subscribe("checkout_completed", async (event) => {
  const checkout = event.data.checkout;
  const orderId = String((checkout.order && checkout.order.id) || "").split("/").pop();
  const eventId = EVENT_ID.split("{order_id}").join(orderId);
  const c = consent();
  if (!c.ad_user_data) {
    // Without marketing consent only the consent state itself is sent.
    fetch(POSTBACK, { method: "POST", body: JSON.stringify({ order_ref: checkout.token, consent: c }), keepalive: true,
                      credentials: "omit", headers: { "Content-Type": "text/plain" } }).catch(() => {});
    return;
  }
  const s = await state(), clicks = {};
  for (const k in s.c || {}) clicks[k === "ScCid" ? "sccid" : k] = { value: s.c[k].v, seen_at: s.c[k].t };
  const gcl = String(await browser.cookie.get("_gcl_aw") || "").split(".");
  if (!clicks.gclid && gcl.length >= 3) clicks.gclid = { value: gcl.slice(2).join(".") };
  const msg = { order_ref: checkout.token, event_id: eventId, page_url: event.context.document.location.href,
                click_ids: clicks, consent: c };
  for (const [name, key] of [["_fbp", "fbp"], ["_fbc", "fbc"], ["_ttp", "ttp"]]) {
    const v = await browser.cookie.get(name);
    if (v) msg[key] = v;
  }
  fetch(POSTBACK, { method: "POST", body: JSON.stringify(msg), keepalive: true, credentials: "omit",
                    headers: { "Content-Type": "text/plain" } }).catch(() => {});
  const value = checkout.totalPrice && checkout.totalPrice.amount, currency = checkout.currencyCode;
`)
	for _, p := range pixels {
		switch p.Platform {
		case "meta":
			// Meta Pixel base code, with eventID for deduplication
			// (developers.facebook.com/docs/meta-pixel/advanced, read 2026-12-03).
			b.WriteString(`  // Meta Pixel: the same event id as the Conversions API event.
  !function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments)};
  if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;
  s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script','https://connect.facebook.net/en_US/fbevents.js');
  fbq("init", ` + jsString(p.PixelID) + `);
  fbq("track", "Purchase", { value: value, currency: currency }, { eventID: eventId });
`)
		case "tiktok":
			// TikTok Pixel: ttq.track(event, params, {event_id}) deduplicates
			// with the Events API (ads.tiktok.com/help/article/event-deduplication).
			b.WriteString(`  // TikTok Pixel: the same event_id as the Events API event.
  !function(w,d,t){w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=["page","track","identify","instances","debug","on","off","once","ready","alias","group","enableCookie","disableCookie"];
  ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);
  ttq.load=function(e){var s=d.createElement("script");s.async=!0;s.src="https://analytics.tiktok.com/i18n/pixel/events.js?sdkid="+e+"&lib="+t;d.head.appendChild(s)}}(window,document,"ttq");
  ttq.load(` + jsString(p.PixelID) + `);
  ttq.track("CompletePayment", { value: value, currency: currency }, { event_id: eventId });
`)
		}
	}
	b.WriteString("});\n")
	return b.String()
}

// WooCommerceSnippet is a must-use plugin (wp-content/mu-plugins/postback.php)
// that adds the script to every page, keeps the attribution in a hidden
// checkout field saved as order meta under the names Postback's
// WooCommerce connector reads, and posts the beacon on the thank-you page
// with the order key as order_ref.
//
// WooCommerce hooks (woocommerce.github.io/code-reference, read
// 2026-12-03): woocommerce_after_order_notes (classic checkout form),
// woocommerce_checkout_create_order (before the order is saved),
// woocommerce_thankyou (order received page); WC_Order::get_order_key and
// update_meta_data. The block checkout does not run the first two; there
// the thank-you beacon carries the same data.
func WooCommerceSnippet(publicURL string, sh store.Shop) string {
	tag := ScriptTag(publicURL, sh)
	tmpl := eventIDTemplate(sh)
	return `<?php
/**
 * Plugin Name: Postback capture for ` + strings.ReplaceAll(sh.Name, "*/", "") + `
 * Save as wp-content/mu-plugins/postback.php
 */
add_action('wp_head', function () {
    echo '` + strings.ReplaceAll(tag, "'", `\'`) + `' . "\n";
});
add_action('woocommerce_after_order_notes', function () {
    echo '<input type="hidden" name="postback_attribution" value="">';
});
add_action('woocommerce_checkout_create_order', function ($order) {
    if (empty($_POST['postback_attribution'])) {
        return;
    }
    $attrs = json_decode(wp_unslash($_POST['postback_attribution']), true);
    if (!is_array($attrs)) {
        return;
    }
    $keys = array('fbclid', 'gclid', 'gbraid', 'wbraid', 'ttclid', 'rdt_cid', 'msclkid', 'li_fat_id', 'epik', 'sccid',
                  '_fbp', '_fbc', '_ttp', '_scid');
    foreach ($keys as $key) {
        if (isset($attrs[$key]) && is_string($attrs[$key]) && strlen($attrs[$key]) <= 500) {
            $order->update_meta_data($key, sanitize_text_field($attrs[$key]));
        }
    }
});
add_action('woocommerce_thankyou', function ($order_id) {
    $order = wc_get_order($order_id);
    if (!$order) {
        return;
    }
    $event_id = str_replace('{order_id}', (string) $order->get_id(), ` + phpString(tmpl) + `);
    printf(
        '<script>(function(){var f=function(){window.Postback&&Postback.purchase({order_ref:%s,event_id:%s})};' .
        'if(window.Postback)f();else window.addEventListener("load",f)})();</script>',
        wp_json_encode($order->get_order_key()), wp_json_encode($event_id)
    );
});
`
}

// phpString quotes s as a single-quoted PHP string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// StripeSnippet shows how a merchant's checkout page hands the
// attribution to the server that creates the Checkout Session.
func StripeSnippet(publicURL string, sh store.Shop) string {
	return ScriptTag(publicURL, sh) + `
<script>
  // Before creating the Checkout Session, send Postback.attributes() to your
  // server and put it in the session's metadata (Stripe allows 50 keys):
  //   stripe.checkout.sessions.create({ ..., metadata: attributesFromBrowser })
  // On the success page ({CHECKOUT_SESSION_ID} in success_url):
  //   Postback.purchase({ order_ref: "cs_…", event_id: "cs_…" });
  fetch("/create-checkout-session", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ attribution: window.Postback ? Postback.attributes() : {} }) });
</script>`
}
