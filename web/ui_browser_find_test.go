package web_test

import (
	"context"
	_ "embed"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postbackhq/postback/store"
)

//go:embed testdata/axe/axe.min.js
var axeSource string

// longStripeID is a Checkout Session id as long as live ones get (66
// characters): the id that used to push the delivery chips off the page.
const longStripeID = "cs_live_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9"

// TestBrowserEventsListFitsAndFinds checks the events list in a real
// browser at a desktop and a phone width: with six destinations and a long
// Stripe id every delivery chip is on screen without horizontal scrolling;
// an order is found by its name and by the buyer's email; the keyboard
// focus ring is visible; and axe-core finds no WCAG 2.2 A/AA violation on
// the list, the event page, the dashboard and the shops page.
func TestBrowserEventsListFitsAndFinds(t *testing.T) {
	if len(longStripeID) != 66 {
		t.Fatalf("longStripeID has %d characters, want 66", len(longStripeID))
	}
	ctx := chromium(t)
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	for i := range 6 {
		if code := h.api(t, "POST", fmt.Sprintf("/api/v1/shops/%d/destinations", shop.ID),
			map[string]any{"platform": "fake", "credentials": map[string]any{"pixel": "p" + strconv.Itoa(i), "token": "t"}}, nil); code != 201 {
			t.Fatalf("destination %d: %d", i, code)
		}
	}
	for _, b := range []string{
		`{"order":"` + longStripeID + `","paid":true}`,
		`{"order":"6318840300000","paid":true,"name":"#1100","email":"jane.doe@example.com","gclid":"Cj0KCQ-gclid"}`,
		`{"order":"6318840300001","paid":true,"name":"#1101","email":"sam@example.com"}`,
	} {
		body := []byte(b)
		if code, out := h.webhook(t, webhookPath(shop), body, map[string]string{"X-Test-Signature": hex.EncodeToString(sign("s3cret", body))}); code != 200 {
			t.Fatalf("webhook: %d %v", code, out)
		}
	}
	if _, err := h.store.IndexSearch(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	base := h.srv.URL
	br := uiBrowser{t, ctx}
	run, eval, shot := br.run, br.eval, br.shot
	br.login(base)

	// Every chip of every row inside the viewport, and nothing scrolls
	// sideways: the page, nor the table's own wrapper.
	const fits = `(() => {
	  const vw = document.documentElement.clientWidth;
	  const bad = [];
	  if (document.documentElement.scrollWidth > vw + 1) bad.push("page scrolls sideways: " + document.documentElement.scrollWidth + " > " + vw);
	  document.querySelectorAll(".table-wrap").forEach((w) => { if (w.scrollWidth > w.clientWidth + 1) bad.push("table scrolls: " + w.scrollWidth + " > " + w.clientWidth); });
	  const chips = document.querySelectorAll("#event-rows .c-dests .chip");
	  chips.forEach((c) => { const r = c.getBoundingClientRect(); if (r.right > vw + 1 || r.left < -1 || r.width === 0) bad.push("chip outside: " + c.textContent + " at " + Math.round(r.left) + "–" + Math.round(r.right)); });
	  ["c-status", "c-value", "c-shop"].forEach((cls) => document.querySelectorAll("#event-rows ." + cls).forEach((c) => {
	    const r = c.getBoundingClientRect(); if (r.width === 0 || r.right > vw + 1) bad.push(cls + " hidden or outside");
	  }));
	  return chips.length + " chips; " + bad.join("; ");
	})()`
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1400, 900}, {"phone", 390, 844}} {
		run(size.name+" events list", chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(base+"/admin/events"),
			chromedp.WaitVisible(chromedp.CSS("#event-rows tr[data-id]")))
		if got := eval(fits); got != "18 chips; " {
			t.Errorf("%s (%d px): %s; want 18 chips, all on screen", size.name, size.w, got)
		}
		shot("events-find-" + size.name)
	}
	run("back to desktop", chromedp.EmulateViewport(1400, 900))

	// The whole id is on hover (title) and the row's copy button.
	if got := eval(`document.querySelector('#event-rows .c-order [title="` + longStripeID + `"]') ? "ok" : "missing"`); got != "ok" {
		t.Errorf("long id's full value on hover: %s", got)
	}

	search := func(q string) string {
		t.Helper()
		run("search "+q, chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), q),
			chromedp.Submit(chromedp.CSS(`input[name="q"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.filters a[href="/admin/events"]`)), // "Clear" shows once filtered
		)
		return eval(`[...document.querySelectorAll("#event-rows tr[data-id] .c-order")].map((c) => c.innerText.trim().split("\n")[0]).join(",")`)
	}
	if got := search("#1100"); got != "#1100" {
		t.Errorf("search by order name: rows %q, want #1100", got)
	}
	shot("events-search")
	if got := search("Jane.Doe@example.com"); got != "#1100" {
		t.Errorf("search by email: rows %q, want #1100", got)
	}
	if got := search("Cj0KCQ-gclid"); got != "#1100" {
		t.Errorf("search by click id: rows %q, want #1100", got)
	}

	// Keyboard focus: Tab from the top of the page lands on a link whose
	// ring is at least 2 px and contrasts 3:1 with the page behind it.
	run("tab to the first control", chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)),
		chromedp.KeyEvent("\t"))
	ring := eval(`(() => {
	  const el = document.activeElement; const s = getComputedStyle(el);
	  let bg = "rgb(255, 255, 255)";
	  for (let n = el.parentElement; n; n = n.parentElement) { const c = getComputedStyle(n).backgroundColor; if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") { bg = c; break; } }
	  return [el.tagName, s.outlineStyle, s.outlineWidth, s.outlineColor, bg].join("|");
	})()`)
	parts := strings.Split(ring, "|")
	if len(parts) != 5 || parts[1] == "none" {
		t.Fatalf("focused %s: outline %q, want a visible ring", parts[0], ring)
	}
	if width, _ := strconv.ParseFloat(strings.TrimSuffix(parts[2], "px"), 64); width < 2 {
		t.Errorf("focus ring width %s, want at least 2px", parts[2])
	}
	if c := contrast(parts[3], parts[4]); c < 3 {
		t.Errorf("focus ring %s on %s has contrast %.2f:1, want at least 3:1", parts[3], parts[4], c)
	}

	// A destination whose credentials were refused leads the dashboard as
	// a problem with its count.
	dests, err := h.store.Destinations(context.Background(), shop.ID)
	if err != nil || len(dests) != 6 {
		t.Fatalf("destinations: %d, %v", len(dests), err)
	}
	if err := h.store.ParkDestination(context.Background(), dests[0].ID, "fake refused the access token", time.Now()); err != nil {
		t.Fatal(err)
	}
	run("dashboard with a problem", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(".problems")))
	if got := eval(`document.querySelector(".problems .problem-bad strong").innerText`); !strings.Contains(got, "needs new credentials — 3 orders waiting") {
		t.Errorf("dashboard's first problem = %q, want the parked destination with its 3 orders", got)
	}
	shot("dashboard-health")

	// axe-core (vendored, no network) on the pages a merchant uses most.
	events, err := h.store.Events(context.Background(), store.EventFilter{})
	if err != nil || len(events) == 0 {
		t.Fatalf("events: %v", err)
	}
	for _, path := range []string{"/admin/events", fmt.Sprintf("/admin/events/%d", events[0].ID), "/admin/", "/admin/shops", fmt.Sprintf("/admin/shops/%d", shop.ID), "/admin/account"} {
		run("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		// Evaluated directly: the page's Content-Security-Policy rightly
		// refuses an injected <script>.
		eval(axeSource + `; "loaded"`)
		got := eval(`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
		  .then((r) => r.violations.map((v) => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")).join("\n"))`)
		if got != "" {
			t.Errorf("axe on %s:\n%s", path, got)
		}
	}
}

// contrast is the WCAG contrast ratio of two CSS rgb()/rgba() colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(css string) float64 {
	css = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(css, "rgba("), "rgb("), ")")
	parts := strings.Split(css, ",")
	if len(parts) < 3 {
		return 1
	}
	var ch [3]float64
	for i := range 3 {
		v, _ := strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
		v /= 255
		if v <= 0.04045 {
			ch[i] = v / 12.92
		} else {
			ch[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
}
