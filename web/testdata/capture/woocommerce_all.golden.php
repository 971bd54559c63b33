<?php
/**
 * Plugin Name: Postback capture for Acme
 * Save as wp-content/mu-plugins/postback.php
 */
add_action('wp_head', function () {
    echo '<script src="https://postback.example.com/js/postback.js" data-shop="pub_Acme0123456789" async></script>' . "\n";
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
    $event_id = str_replace('{order_id}', (string) $order->get_id(), 'purchase-{order_id}');
    printf(
        '<script>(function(){var f=function(){window.Postback&&Postback.purchase({order_ref:%s,event_id:%s})};' .
        'if(window.Postback)f();else window.addEventListener("load",f)})();</script>',
        wp_json_encode($order->get_order_key()), wp_json_encode($event_id)
    );
    // The pixels ticked on the shop page, with the event id Postback sends.
    $pixels = <<<'POSTBACK_PIXELS'
function (eventId, value, currency) {
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
}
POSTBACK_PIXELS;
    echo '<script>(function(p,e,v,c){var run=function(){if(window.Postback&&Postback.allowed())p(e,v,c)};if(window.Postback)run();else window.addEventListener("load",run)})((' . $pixels . '), ' . wp_json_encode($event_id) . ', ' .
        wp_json_encode((float) $order->get_total()) . ', ' . wp_json_encode($order->get_currency()) . ');</script>';
});
