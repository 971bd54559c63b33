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
  // Browser ids Snapchat (sc_cookie1), Pinterest (click_id) and Reddit
  // (user.uuid) match on.
  for (const [name, key] of [["_scid", "scid"], ["_epik", "epik"], ["_rdt_uuid", "rdt_uuid"]]) {
    const v = await browser.cookie.get(name);
    if (v && !clicks[key]) clicks[key] = { value: v };
  }
  fetch(POSTBACK, { method: "POST", body: JSON.stringify(msg), keepalive: true, credentials: "omit",
                    headers: { "Content-Type": "text/plain" } }).catch(() => {});
  const value = checkout.totalPrice && checkout.totalPrice.amount, currency = checkout.currencyCode;
`)
	if len(pixels) > 0 {
		b.WriteString("  // The pixels ticked on the shop page, with the event id Postback sends.\n  (" +
			PurchasePixels(pixels) + ")(eventId, value, currency);\n")
	}
	b.WriteString("});\n")
	return b.String()
}

// PurchasePixels is a JavaScript function expression, function (eventId,
// value, currency) {…}, that loads each chosen platform's browser pixel
// (its published base code, skipped when the page already has it) and
// tracks the purchase under the event name the server sends, with the
// event id in that pixel's own deduplication field. Pixels of platforms
// it does not know are left out.
func PurchasePixels(pixels []PixelChoice) string {
	var b strings.Builder
	b.WriteString("function (eventId, value, currency) {\n")
	for _, p := range pixels {
		if code, ok := pixelCode[p.Platform]; ok && p.PixelID != "" {
			b.WriteString(strings.ReplaceAll(code, "PIXEL_ID", jsString(p.PixelID)))
		}
	}
	b.WriteString("}")
	return b.String()
}

// pixelCode is, per platform, the base code of its browser pixel and the
// purchase it tracks; PIXEL_ID is replaced by the quoted pixel id. Each
// event name is the one Postback's sender for that platform sends, since
// the platforms deduplicate on the event name and id together. Sources,
// read 2026-12-03:
//   - Meta: fbq('track', 'Purchase', {…}, {eventID}) deduplicates with the
//     Conversions API's event_id (developers.facebook.com/docs/meta-pixel/advanced,
//     .../conversions-api/deduplicate-pixel-and-server-events).
//   - TikTok: ttq.track(event, params, {event_id}); the pixel and Events
//     API events must share event and event_id within 48 hours
//     (ads.tiktok.com/help/article/event-deduplication). Postback sends
//     "Purchase" (TikTok's current name for CompletePayment).
//   - Pinterest: pintrk('track', 'checkout', {…, event_id}); the tag's
//     event_id must equal the API's event_id
//     (developers.pinterest.com/docs/api-features/pinterest-tag/,
//     .../conversion-management/#deduplication).
//   - Snapchat: the Pixel's client_dedup_id on snaptr('track', 'PURCHASE',
//     {…}) matches the Conversions API's event_id
//     (developers.snap.com/api/marketing-api/Conversions-API/Deduplication).
//   - Reddit: rdt('track', 'Purchase', {…, conversionId}) matches the
//     Conversions API's metadata.conversion_id (business.reddithelp.com,
//     "Event deduplication"; ads-api.reddit.com/docs/v3).
var pixelCode = map[string]string{
	"meta": `  // Meta Pixel: eventID is the Conversions API event_id.
  !function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments)};
  if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;
  s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script','https://connect.facebook.net/en_US/fbevents.js');
  fbq("init", PIXEL_ID);
  fbq("track", "Purchase", { value: value, currency: currency }, { eventID: eventId });
`,
	"tiktok": `  // TikTok Pixel: event_id is the Events API event_id.
  window.ttq || !function(w,d,t){w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=["page","track","identify","instances","debug","on","off","once","ready","alias","group","enableCookie","disableCookie"];
  ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);
  ttq.load=function(e){var s=d.createElement("script");s.async=!0;s.src="https://analytics.tiktok.com/i18n/pixel/events.js?sdkid="+e+"&lib="+t;d.head.appendChild(s)}}(window,document,"ttq");
  ttq.load(PIXEL_ID);
  ttq.track("Purchase", { value: value, currency: currency, content_type: "product" }, { event_id: eventId });
`,
	"pinterest": `  // Pinterest Tag: event_id is the Conversions API event_id.
  !function(e){if(!window.pintrk){window.pintrk=function(){window.pintrk.queue.push(Array.prototype.slice.call(arguments))};var n=window.pintrk;
  n.queue=[],n.version="3.0";var t=document.createElement("script");t.async=!0,t.src=e;var r=document.getElementsByTagName("script")[0];
  r.parentNode.insertBefore(t,r)}}("https://s.pinimg.com/ct/core.js");
  pintrk("load", PIXEL_ID);
  pintrk("track", "checkout", { value: value, currency: currency, event_id: eventId });
`,
	"snapchat": `  // Snap Pixel: client_dedup_id is the Conversions API event_id.
  (function(e,t,n){if(e.snaptr)return;var a=e.snaptr=function(){a.handleRequest?a.handleRequest.apply(a,arguments):a.queue.push(arguments)};
  a.queue=[];var s="script",r=t.createElement(s);r.async=!0;r.src=n;var u=t.getElementsByTagName(s)[0];u.parentNode.insertBefore(r,u)})(window,document,"https://sc-static.net/scevent.min.js");
  snaptr("init", PIXEL_ID, {});
  snaptr("track", "PURCHASE", { price: value, currency: currency, client_dedup_id: eventId });
`,
	"reddit": `  // Reddit Pixel: conversionId is the Conversions API conversion_id.
  !function(w,d){if(!w.rdt){var p=w.rdt=function(){p.sendEvent?p.sendEvent.apply(p,arguments):p.callQueue.push(arguments)};p.callQueue=[];
  var t=d.createElement("script");t.src="https://www.redditstatic.com/ads/pixel.js",t.async=!0;var s=d.getElementsByTagName("script")[0];
  s.parentNode.insertBefore(t,s)}}(window,document);
  rdt("init", PIXEL_ID);
  rdt("track", "Purchase", { value: value, currency: currency, conversionId: eventId });
`,
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
func WooCommerceSnippet(publicURL string, sh store.Shop, pixels []PixelChoice) string {
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
                  '_fbp', '_fbc', '_ttp', '_scid', '_rdt_uuid');
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
    );` + wooPixels(pixels) + `
});
`
}

// wooPixels is the thank-you page's pixel purchase code for the chosen
// pixels, in a nowdoc so PHP leaves the JavaScript as it is.
func wooPixels(pixels []PixelChoice) string {
	if len(pixels) == 0 {
		return ""
	}
	return `
    // The pixels ticked on the shop page, with the event id Postback sends.
    $pixels = <<<'POSTBACK_PIXELS'
` + PurchasePixels(pixels) + `
POSTBACK_PIXELS;
    echo '<script>(` + WooPixelGate + `)((' . $pixels . '), ' . wp_json_encode($event_id) . ', ' .
        wp_json_encode((float) $order->get_total()) . ', ' . wp_json_encode($order->get_currency()) . ');</script>';`
}

// WooPixelGate runs the thank-you page's pixel purchases (p, a
// PurchasePixels function) once Postback's script has loaded, and only if
// Postback.allowed() says the shop's consent mode lets marketing tags run:
// with consent required and not given, no pixel fires, as on Shopify.
const WooPixelGate = `function(p,e,v,c){var run=function(){if(window.Postback&&Postback.allowed())p(e,v,c)};` +
	`if(window.Postback)run();else window.addEventListener("load",run)}`

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
