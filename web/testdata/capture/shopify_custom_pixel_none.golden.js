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
});
