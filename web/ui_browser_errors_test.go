package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// completeAll records the same outcome for every due delivery of a
// destination.
func (h *harness) completeAll(t *testing.T, destID int64, o store.Outcome) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	claimed, err := h.store.Claim(ctx, destID, "test", 50, now, time.Minute)
	if err != nil || len(claimed) == 0 {
		t.Fatalf("claim for destination %d: %v %v", destID, claimed, err)
	}
	outs := make([]store.Outcome, len(claimed))
	for i, c := range claimed {
		outs[i] = o
		outs[i].DeliveryID, outs[i].Attempt, outs[i].CountAttempt, outs[i].StartedAt = c.ID, 1, true, now
	}
	if err := h.store.Complete(ctx, "test", outs, now); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserStatesAndErrorsAtBothWidths checks in a real browser, at
// 1400 px and at 390 px: the events list keeps every chip and each row's
// reason on screen beside a 66-character Stripe id; a skipped delivery is
// grey, not red, and stays out of the success rate; a destination whose
// token was refused leads the dashboard with its count and one headline;
// the event page shows that headline with the platform's code folded
// under it; orders are found by name and by email; the focus ring shows.
func TestBrowserStatesAndErrorsAtBothWidths(t *testing.T) {
	ctx := chromium(t)
	h := newHarness(t, withSenders(namedSender{name: "tiktok"}, namedSender{name: "google_ads"}, namedSender{name: "meta"}))
	shop := h.createShop(t, "s3cret")
	tiktok := h.createDestFor(t, shop.ID, "tiktok", nil)
	gads := h.createDestFor(t, shop.ID, "google_ads", nil)
	meta := h.createDestFor(t, shop.ID, "meta", nil)
	h.signedEvent(t, shop, []byte(`{"order":"`+longStripeID+`","paid":true}`))
	order := h.signedEvent(t, shop, []byte(`{"order":"6318840300000","paid":true,"name":"#1100","email":"jane.doe@example.com"}`))
	h.signedEvent(t, shop, []byte(`{"order":"6318840300001","paid":false}`))

	refusal := platforms.Auth(200, "40105", "tiktok: Access token is invalid or has expired")
	h.completeAll(t, tiktok, store.Outcome{Status: store.DeliveryRetrying, ErrorClass: "auth", Parked: true, StatusCode: 200,
		Error: refusal.Error() + "; waiting for new credentials", NextAttemptAt: time.Now()})
	now := time.Now()
	if err := h.store.ParkDestinationUntil(context.Background(), tiktok, refusal.Error(), 1, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.completeAll(t, gads, store.Outcome{Status: store.DeliverySkipped, ErrorClass: "invalid",
		Error: platforms.Invalid(0, "no_identifier", "no gclid, gbraid, wbraid, email or phone to match the conversion on; not sent").Error()})
	h.completeAll(t, meta, store.Outcome{Status: store.DeliveryFailed, ErrorClass: "invalid", StatusCode: 400,
		Error: platforms.Invalid(400, "100/2804003", "Invalid email hash").Error()})
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

	// visible lists what of selector is not on screen: zero-sized, or
	// past the viewport's edges.
	visible := func(selector string, wraps bool) string {
		return eval(`(() => {
		  const vw = document.documentElement.clientWidth; const bad = [];
		  const els = document.querySelectorAll(` + strconv.Quote(selector) + `);
		  if (els.length === 0) return "none found";
		  els.forEach((e) => { const r = e.getBoundingClientRect();
		    if (r.width === 0 || r.height === 0 || r.right > vw + 1 || r.left < -1) bad.push((e.innerText || e.textContent).trim().slice(0, 40) + " at " + Math.round(r.left) + "–" + Math.round(r.right)); });
		  if (document.documentElement.scrollWidth > vw + 1) bad.push("page scrolls sideways");
		  if (` + strconv.FormatBool(wraps) + `) document.querySelectorAll(".table-wrap").forEach((w) => { if (w.scrollWidth > w.clientWidth + 1) bad.push("table scrolls sideways"); });
		  return bad.join("; ");
		})()`)
	}
	// The red the UI uses for failures, read from a failed chip.
	const colours = `(() => { const c = (sel) => { const e = document.querySelector(sel); if (!e) return "missing"; const s = getComputedStyle(e); return s.color + "/" + s.backgroundColor; };
	  return c("#event-rows .chip-failed") + "|" + c("#event-rows .chip-skipped") + "|" + c("#event-rows .row-reason-skipped") + "|" + c("#event-rows .row-reason-failed"); })()`

	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1400, 900}, {"phone", 390, 844}} {
		at := fmt.Sprintf("%s (%d px)", size.name, size.w)
		run(at+" events list", chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(base+"/admin/events"),
			chromedp.WaitVisible(chromedp.CSS("#event-rows tr[data-id]")))
		if got := visible("#event-rows .c-dests .chip", true); got != "" {
			t.Errorf("%s: chips not on screen: %s", at, got)
		}
		if got := visible("#event-rows .row-reason", true); got != "" {
			t.Errorf("%s: row reasons not on screen: %s", at, got)
		}
		reasons := eval(`[...document.querySelectorAll("#event-rows .row-reason")].map((e) => e.innerText.trim()).join("\n")`)
		for _, want := range []string{"TikTok refused the access token", "Meta rejected the event: invalid email hash",
			"Not sent to Google Ads: no gclid", "not paid"} {
			if !strings.Contains(reasons, want) {
				t.Errorf("%s: rows' reasons %q lack %q", at, reasons, want)
			}
		}
		c := strings.Split(eval(colours), "|")
		if len(c) != 4 || c[0] == "missing" || c[1] == "missing" {
			t.Fatalf("%s: chip colours %v", at, c)
		}
		red := c[0]
		if c[1] == red || strings.Contains(c[1], strings.Split(red, "/")[0]) || strings.Split(c[2], "/")[0] == strings.Split(red, "/")[0] {
			t.Errorf("%s: skipped is drawn like failed: failed %s, skipped chip %s, skipped reason %s", at, red, c[1], c[2])
		}
		shot("errors-events-" + size.name)

		for _, q := range []string{"#1100", "Jane.Doe@example.com"} {
			run(at+" search "+q, chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)),
				chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), q), chromedp.Submit(chromedp.CSS(`input[name="q"]`)),
				chromedp.WaitVisible(chromedp.CSS(`.filters a[href="/admin/events"]`)))
			if got := eval(`[...document.querySelectorAll("#event-rows tr[data-id] .c-order")].map((c) => c.innerText.trim().split("\n")[0]).join(",")`); got != "#1100" {
				t.Errorf("%s: search %q finds %q, want #1100", at, q, got)
			}
		}

		run(at+" dashboard", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(".problems")))
		first := eval(`document.querySelector(".problems .problem-bad").innerText`)
		if !strings.Contains(first, "TikTok for Acme needs new credentials — 2 orders waiting") || !strings.Contains(first, "TikTok refused the access token.") {
			t.Errorf("%s: dashboard's first problem = %q, want TikTok's refused token with its 2 orders", at, first)
		}
		if got := visible(".problems .problem-bad strong, .problems .problem-bad .problem-detail, .problems .problem-bad .btn", false); got != "" {
			t.Errorf("%s: the problem is not on screen: %s", at, got)
		}
		grid := eval(`[...document.querySelectorAll(".grid-table tbody td")].map((td) => td.className + ":" + td.innerText.replace(/\s+/g, " ").trim()).join("|")`)
		for _, cell := range strings.Split(grid, "|") {
			if strings.Contains(cell, "skipped") && (strings.HasPrefix(cell, "cell-bad") || strings.Contains(cell, "0%")) {
				t.Errorf("%s: the skipped-only cell is red or counted: %q", at, cell)
			}
		}
		if !strings.Contains(grid, "1 skipped") && !strings.Contains(grid, "2 skipped") {
			t.Errorf("%s: the grid does not count the skipped deliveries: %q", at, grid)
		}
		if got := eval(`[...document.querySelectorAll(".stack tbody tr")].filter((r) => r.innerText.includes("Google Ads")).map((r) => r.querySelector(".rate").className + " " + r.querySelector(".rate").innerText).join(",")`); strings.Contains(got, "poor") || strings.Contains(got, "0%") {
			t.Errorf("%s: Google Ads' success rate counts the skipped deliveries: %q", at, got)
		}
		shot("errors-dashboard-" + size.name)

		run(at+" event page", chromedp.Navigate(fmt.Sprintf("%s/admin/events/%d", base, order)), chromedp.WaitVisible(chromedp.CSS(".delivery-problem")))
		if got := visible(".delivery-problem .problem-headline, .delivery-problem .problem-fix, .delivery-problem summary", false); got != "" {
			t.Errorf("%s: the delivery's problem is not on screen: %s", at, got)
		}
		detail := `[...document.querySelectorAll(".platform-detail")].map((d) => (d.open ? "open " : "closed ") + d.querySelector("p").checkVisibility()).join(",")`
		if got := eval(detail); got != "closed false,closed false" {
			t.Errorf("%s: platform detail %q, want folded", at, got)
		}
		run(at+" unfold the platform's words", chromedp.Click(chromedp.CSS(".platform-detail summary")))
		if got := eval(`document.querySelector(".platform-detail p").innerText`); got != "code 40105 · HTTP 200 · Access token is invalid or has expired" &&
			got != "code 100/2804003 · HTTP 400" {
			t.Errorf("%s: unfolded platform detail = %q", at, got)
		}
		if got := eval(`document.body.innerText`); strings.Contains(got, "credentials rejected") || strings.Contains(got, "(code 40105)") {
			t.Errorf("%s: event page shows Postback's wrapping of the error", at)
		}
		shot("errors-event-" + size.name)

		// Keyboard focus is visible at this width too.
		run(at+" tab", chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(chromedp.CSS(`input[name="q"]`)), chromedp.KeyEvent("\t"))
		ring := strings.Split(eval(`(() => { const s = getComputedStyle(document.activeElement); return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth].join("|"); })()`), "|")
		if len(ring) != 3 || ring[1] == "none" || ring[2] == "0px" {
			t.Errorf("%s: focused element's outline %v, want a visible ring", at, ring)
		}
	}

	// axe-core on the pages with the new parts: the rows' reasons and the
	// folded platform detail.
	run("back to desktop", chromedp.EmulateViewport(1400, 900))
	for _, path := range []string{"/admin/events", fmt.Sprintf("/admin/events/%d", order), fmt.Sprintf("/admin/destinations/%d", tiktok), "/admin/"} {
		run("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		eval(axeSource + `; "loaded"`)
		got := eval(`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
		  .then((r) => r.violations.map((v) => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")).join("\n"))`)
		if got != "" {
			t.Errorf("axe on %s:\n%s", path, got)
		}
	}
	run("destination page", chromedp.Navigate(fmt.Sprintf("%s/admin/destinations/%d", base, tiktok)), chromedp.WaitVisible(chromedp.CSS(".delivery-problem")))
	shot("errors-destination")
}

// TestBrowserGoogleConsentSelect: the Google Ads destination form offers
// its consent settings as selects (unspecified, granted, denied), labelled,
// and saving a choice keeps it.
func TestBrowserGoogleConsentSelect(t *testing.T) {
	ctx := chromium(t)
	pc := platforms.Config{BaseURL: "http://127.0.0.1:1", Client: &http.Client{Timeout: time.Second}}
	google := platforms.NewAPIChoice("google_ads",
		platforms.API{Name: "data_manager", Label: "Data Manager", Sender: platforms.NewGoogleDataManager(pc, "http://127.0.0.1:1")},
		platforms.API{Name: "google_ads_api", Label: "Google Ads API", Sender: platforms.NewGoogleAds(pc, "http://127.0.0.1:1")})
	h := newHarness(t, withSenders(google))
	shop := h.createShop(t, "s3cret")
	if _, err := h.store.CreateUser(context.Background(), adminUser, adminPassword, time.Now()); err != nil {
		t.Fatal(err)
	}
	do := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		return v
	}
	base := h.srv.URL
	do("log in", chromedp.EmulateViewport(1400, 900), chromedp.Navigate(base+"/admin/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), adminUser),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".stats")))
	do("new Google destination", chromedp.Navigate(fmt.Sprintf("%s/admin/shops/%d/destinations/new?platform=google_ads", base, shop.ID)),
		chromedp.WaitVisible(chromedp.CSS(`select[name="settings.ad_user_data_consent"]`)))
	got := eval(`["settings.ad_user_data_consent", "settings.ad_personalization_consent"].map((n) => {
	  const s = document.querySelector('select[name="' + n + '"]');
	  return s.closest("label").querySelector(".label").innerText.split("\n")[0].trim() + ": " + [...s.options].map((o) => o.value + "=" + o.text).join(",");
	}).join(" | ")`)
	want := "Ad user data consent: =Unspecified (not sent),GRANTED=Granted,DENIED=Denied | Ad personalization consent: =Unspecified (not sent),GRANTED=Granted,DENIED=Denied"
	if got != want {
		t.Errorf("consent selects = %q, want %q", got, want)
	}
	if os.Getenv("POSTBACK_SCREENSHOTS") == "1" {
		do("scroll to the settings", chromedp.ScrollIntoView(chromedp.CSS(`select[name="settings.ad_user_data_consent"]`)))
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "screenshots", "destination-google-consent.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
