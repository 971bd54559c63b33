/* Postback first-party capture script. No dependencies.
 * <script src="https://<postback>/js/postback.js" data-shop="<public_id>" async></script>
 * Options (data-*): consent="required" stores nothing until consent;
 * window-days (90) is the attribution window; cart="shopify" forces the
 * Shopify cart attributes (default: when window.Shopify exists);
 * order-ref (+ event-id) posts the purchase beacon on a thank-you page.
 * API: Postback.consent({ad_user_data, ad_personalization, analytics}),
 * Postback.allowed() (whether the shop's consent mode lets marketing tags run),
 * Postback.attributes() (for Stripe Checkout Session metadata),
 * Postback.purchase({order_ref, event_id}).
 * Cart attributes: Shopify Ajax Cart API, POST /cart/update.js with
 * {"attributes": {...}} (shopify.dev/docs/api/ajax/reference/cart, read
 * 2026-12-03). fbc: fb.1.<first-seen ms>.<fbclid> (Meta, fbp-and-fbc). */
(function (w, d) {
  "use strict";
  if (w.Postback && w.Postback._loaded) return;
  var tag = d.currentScript || d.querySelector("script[data-shop]");
  if (!tag) return;
  var ds = tag.dataset || {}, shop = ds.shop;
  if (!shop) return;
  var base = tag.src.replace(/\/js\/postback\.js.*$/, "");
  var COOKIE = "_postback", DAY = 864e5;
  var windowDays = +ds.windowDays > 0 ? +ds.windowDays : 90;
  var CLICKS = ["fbclid", "gclid", "gbraid", "wbraid", "ttclid", "rdt_cid", "msclkid", "li_fat_id", "epik", "ScCid"];
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"];
  var consent = null; // {ad_user_data, ad_personalization, analytics} once known

  function now() { return Math.floor(Date.now() / 1000); }
  function cookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name.replace(/\./g, "\\.") + "=([^;]*)"));
    if (!m) return "";
    try { return decodeURIComponent(m[1]); } catch (e) { return ""; }
  }
  function load() {
    try { return JSON.parse(cookie(COOKIE)) || {}; } catch (e) { return {}; }
  }
  function save(s) {
    d.cookie = COOKIE + "=" + encodeURIComponent(JSON.stringify(s)) + "; path=/; max-age=" +
      windowDays * 86400 + "; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }
  function allowed() {
    if (ds.consent !== "required") return true;
    return !!(consent && consent.ad_user_data && consent.ad_storage !== false);
  }
  // Google Consent Mode: gtag('consent', 'default'|'update', {...}) pushes
  // the arguments object onto dataLayer.
  function readConsentMode() {
    var dl = w.dataLayer || [], c = null;
    for (var i = 0; i < dl.length; i++) {
      var e = dl[i];
      if (e && e[0] === "consent" && e[2] && typeof e[2] === "object") {
        c = c || {};
        for (var k in e[2]) c[k] = e[2][k];
      }
    }
    if (!c) return;
    setConsent({
      ad_user_data: c.ad_user_data === "granted",
      ad_personalization: c.ad_personalization === "granted",
      analytics: c.analytics_storage === "granted",
      ad_storage: c.ad_storage === undefined ? undefined : c.ad_storage === "granted"
    });
  }
  // Shopify's Customer Privacy API (theme pages).
  function readShopifyPrivacy() {
    var p = w.Shopify && w.Shopify.customerPrivacy;
    if (!p || !p.marketingAllowed) return;
    setConsent({ ad_user_data: !!p.marketingAllowed(), ad_personalization: !!p.marketingAllowed(),
      analytics: p.analyticsProcessingAllowed ? !!p.analyticsProcessingAllowed() : undefined });
  }
  function setConsent(c) {
    consent = consent || {};
    for (var k in c) if (c[k] !== undefined) consent[k] = c[k];
    if (allowed()) capture();
    else if (ds.consent === "required") d.cookie = COOKIE + "=; path=/; max-age=0";
  }

  // capture records the click ids and UTM parameters of this page's URL:
  // the newest click per platform wins; the same click seen again keeps
  // the time it was first seen.
  function capture() {
    if (!allowed()) return;
    var q = new URLSearchParams(location.search), s = load(), t = now(), changed = false;
    s.c = s.c || {};
    CLICKS.forEach(function (name) {
      var v = q.get(name) || q.get(name.toLowerCase());
      if (!v || v.length > 500) return;
      var old = s.c[name];
      if (!old || old.v !== v) { s.c[name] = { v: v, t: t }; changed = true; }
    });
    var utm = {}, any = false;
    UTM.forEach(function (k) { var v = q.get(k); if (v) { utm[k] = v.slice(0, 200); any = true; } });
    if (any) { s.u = utm; changed = true; }
    if (changed) save(s);
    attachCart();
  }

  function browserIDs() {
    var out = {}, gcl = cookie("_gcl_aw").split("."); // GCL.<time>.<gclid>
    [["_fbp", "fbp"], ["_fbc", "fbc"], ["_ttp", "ttp"], ["_scid", "scid"], ["_epik", "epik"], ["_rdt_uuid", "rdt_uuid"]]
      .forEach(function (p) { var v = cookie(p[0]); if (v) out[p[1]] = v; });
    if (gcl.length >= 3) out.gclaw = { v: gcl.slice(2).join("."), t: +gcl[1] > 1e12 ? Math.floor(gcl[1] / 1000) : +gcl[1] };
    return out;
  }

  // attributes returns what the store should keep with the order, under
  // names Postback's connectors read (cart attributes, order meta, Stripe
  // metadata).
  function attributes() {
    if (!allowed()) return {};
    var s = load(), b = browserIDs(), out = {}, c = s.c || {};
    for (var k in c) out[k === "ScCid" ? "sccid" : k] = c[k].v;
    if (!out.gclid && b.gclaw) out.gclid = b.gclaw.v;
    if (b.fbp) out._fbp = b.fbp;
    if (b.fbc) out._fbc = b.fbc;
    else if (c.fbclid) out._fbc = "fb.1." + c.fbclid.t * 1000 + "." + c.fbclid.v;
    if (b.ttp) out._ttp = b.ttp;
    if (b.scid) out._scid = b.scid;
    if (b.epik && !out.epik) out.epik = b.epik;
    if (b.rdt_uuid) out._rdt_uuid = b.rdt_uuid;
    for (var u in s.u || {}) out[u] = s.u[u];
    return out;
  }

  function attachCart() {
    if (!(ds.cart === "shopify" || (w.Shopify && ds.cart !== "none"))) return;
    var a = attributes(), body = JSON.stringify({ attributes: a }), key = "_postback_cart";
    if (body === '{"attributes":{}}') return;
    try { if (sessionStorage.getItem(key) === body) return; } catch (e) {}
    var root = (w.Shopify && w.Shopify.routes && w.Shopify.routes.root) || "/";
    fetch(root + "cart/update.js", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: body })
      .then(function (r) { if (r.ok) try { sessionStorage.setItem(key, body); } catch (e) {} })
      .catch(function () {});
  }

  // purchase posts the beacon for an order: the same click ids, cookies
  // and consent, named by what the store's webhook also carries.
  function purchase(o) {
    o = o || {};
    if (!o.order_ref) return;
    var msg = { order_ref: String(o.order_ref) };
    if (consent) msg.consent = { ad_user_data: !!consent.ad_user_data, ad_personalization: !!consent.ad_personalization, analytics: !!consent.analytics };
    // Without consent only the consent state itself is sent, and nothing
    // at all while it is unknown.
    if (!allowed() && !consent) return;
    if (allowed()) {
      msg.page_url = location.href.slice(0, 2000);
      if (o.event_id) msg.event_id = String(o.event_id);
      var s = load(), b = browserIDs(), clicks = {};
      for (var k in s.c || {}) clicks[k === "ScCid" ? "sccid" : k] = { value: s.c[k].v, seen_at: s.c[k].t };
      if (!clicks.gclid && b.gclaw) clicks.gclid = { value: b.gclaw.v, seen_at: b.gclaw.t || undefined };
      if (b.scid) clicks.scid = { value: b.scid };
      if (b.epik && !clicks.epik) clicks.epik = { value: b.epik };
      if (b.rdt_uuid) clicks.rdt_uuid = { value: b.rdt_uuid };
      msg.click_ids = clicks;
      if (b.fbp) msg.fbp = b.fbp;
      if (b.fbc) msg.fbc = b.fbc;
      if (b.ttp) msg.ttp = b.ttp;
      if (s.u) msg.utm = s.u;
    }
    var url = base + "/collect/" + encodeURIComponent(shop), body = JSON.stringify(msg);
    // text/plain keeps it a simple request (no preflight); no credentials.
    try {
      fetch(url, { method: "POST", body: body, keepalive: true, credentials: "omit", mode: "cors",
        headers: { "Content-Type": "text/plain" } }).catch(function () {});
    } catch (e) {
      if (navigator.sendBeacon) navigator.sendBeacon(url, body);
    }
  }

  // WooCommerce classic checkout: the mu-plugin's hidden field carries the
  // attribution into order meta.
  function fillCheckoutField() {
    var f = d.querySelector('input[name="postback_attribution"]');
    if (f) f.value = JSON.stringify(attributes());
  }

  w.Postback = {
    _loaded: true,
    consent: function (c) { setConsent(c || {}); },
    // allowed: may marketing tags run (always, unless the shop requires consent)?
    allowed: allowed,
    attributes: attributes,
    purchase: purchase
  };
  d.addEventListener("visitorConsentCollected", readShopifyPrivacy);
  // A later gtag('consent', 'update', …) is seen as it is pushed.
  var dl = w.dataLayer = w.dataLayer || [], push = dl.push;
  dl.push = function () { var r = push.apply(dl, arguments); readConsentMode(); return r; };
  readConsentMode();
  readShopifyPrivacy();
  capture();
  d.addEventListener("DOMContentLoaded", fillCheckoutField);
  d.addEventListener("submit", fillCheckoutField, true);
  fillCheckoutField();
  if (ds.orderRef) purchase({ order_ref: ds.orderRef, event_id: ds.eventId });
})(window, document);
