// Postback custom pixel for Acme.
// Shopify admin › Settings › Customer events › Add custom pixel; paste, save, Connect.
const POSTBACK = "https://postback.example.com/collect/pub_Acme0123456789";
const EVENT_ID = "purchase-{order_id}";
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
  // The pixels ticked on the shop page, with the event id Postback sends.
  (function (eventId, value, currency) {
  // Meta Pixel: eventID is the Conversions API event_id.
  !function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?n.callMethod.apply(n,arguments):n.queue.push(arguments)};
  if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;
  s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script','https://connect.facebook.net/en_US/fbevents.js');
  fbq("init", "998877665544");
  fbq("track", "Purchase", { value: value, currency: currency }, { eventID: eventId });
  // TikTok Pixel: event_id is the Events API event_id.
  window.ttq || !function(w,d,t){w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];ttq.methods=["page","track","identify","instances","debug","on","off","once","ready","alias","group","enableCookie","disableCookie"];
  ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);
  ttq.load=function(e){var s=d.createElement("script");s.async=!0;s.src="https://analytics.tiktok.com/i18n/pixel/events.js?sdkid="+e+"&lib="+t;d.head.appendChild(s)}}(window,document,"ttq");
  ttq.load("CE2TIKTOKPIXEL");
  ttq.track("Purchase", { value: value, currency: currency, content_type: "product" }, { event_id: eventId });
  // Pinterest Tag: event_id is the Conversions API event_id.
  !function(e){if(!window.pintrk){window.pintrk=function(){window.pintrk.queue.push(Array.prototype.slice.call(arguments))};var n=window.pintrk;
  n.queue=[],n.version="3.0";var t=document.createElement("script");t.async=!0,t.src=e;var r=document.getElementsByTagName("script")[0];
  r.parentNode.insertBefore(t,r)}}("https://s.pinimg.com/ct/core.js");
  pintrk("load", "2612345678901");
  pintrk("track", "checkout", { value: value, currency: currency, event_id: eventId });
  // Snap Pixel: client_dedup_id is the Conversions API event_id.
  (function(e,t,n){if(e.snaptr)return;var a=e.snaptr=function(){a.handleRequest?a.handleRequest.apply(a,arguments):a.queue.push(arguments)};
  a.queue=[];var s="script",r=t.createElement(s);r.async=!0;r.src=n;var u=t.getElementsByTagName(s)[0];u.parentNode.insertBefore(r,u)})(window,document,"https://sc-static.net/scevent.min.js");
  snaptr("init", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", {});
  snaptr("track", "PURCHASE", { price: value, currency: currency, client_dedup_id: eventId });
  // Reddit Pixel: conversionId is the Conversions API conversion_id.
  !function(w,d){if(!w.rdt){var p=w.rdt=function(){p.sendEvent?p.sendEvent.apply(p,arguments):p.callQueue.push(arguments)};p.callQueue=[];
  var t=d.createElement("script");t.src="https://www.redditstatic.com/ads/pixel.js",t.async=!0;var s=d.getElementsByTagName("script")[0];
  s.parentNode.insertBefore(t,s)}}(window,document);
  rdt("init", "a2_abc123def456");
  rdt("track", "Purchase", { value: value, currency: currency, conversionId: eventId });
})(eventId, value, currency);
});
