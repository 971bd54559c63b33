package web

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/store"
)

// Health levels, worst first.
const (
	healthBad  = "bad"  // conversions are stuck or being lost
	healthWarn = "warn" // something needs a look
	healthGood = "good"
	healthNone = "none" // nothing to judge yet
)

// problem is one thing wrong, said as a sentence with a count, a since-when
// and the step that fixes it.
type problem struct {
	Level  string
	Title  string
	Detail string
	Since  time.Time
	Link   string
	Action string
	ShopID int64
	// PlatformDetail is the platform's own code and words, shown folded
	// under the headline (Detail) they explain.
	PlatformDetail string
}

// quietAfter is how long a shop may be silent before it is a problem:
// three of its usual gaps between webhooks, and never less than six hours.
func quietAfter(perDay float64) time.Duration {
	return max(6*time.Hour, time.Duration(3*24*float64(time.Hour)/perDay))
}

// loadProblems gathers what is wrong now, worst first.
func loadProblems(ctx context.Context, cfg Config, shops []store.Shop, now time.Time) ([]problem, error) {
	names := make(map[int64]store.Shop, len(shops))
	for _, sh := range shops {
		names[sh.ID] = sh
	}
	var out []problem

	troubles, err := cfg.Store.DestinationTroubles(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range troubles {
		shop, platform := names[t.ShopID].Name, platformLabel(t.Platform)
		if t.Parked > 0 {
			title := fmt.Sprintf("%s for %s needs new credentials — %s waiting", platform, shop, plural(t.Parked, "order"))
			if !t.OldestExpires.IsZero() {
				if left := t.OldestExpires.Sub(now); left > 0 {
					title += fmt.Sprintf(", the oldest leaves %s's window in %s", platform, fmtSpan(left))
				} else {
					title += fmt.Sprintf(", the oldest is past %s's window", platform)
				}
			}
			x := delivery.Explain(t.Platform, store.DeliveryWaitingCredentials, "auth", t.LastError)
			out = append(out, problem{Level: healthBad, Title: title + ".", Detail: sentence(x.Headline), PlatformDetail: x.Detail(),
				Since: t.Since, Link: fmt.Sprintf("/admin/destinations/%d", t.DestinationID), Action: "Update the credentials", ShopID: t.ShopID})
		}
		if t.Failing > 0 {
			x := delivery.Explain(t.Platform, store.DeliveryRetrying, "", t.LastError)
			out = append(out, problem{Level: healthBad,
				Title:  fmt.Sprintf("%s for %s is failing — %s waiting for a retry.", platform, shop, plural(t.Failing, "order")),
				Detail: sentence(x.Headline), PlatformDetail: x.Detail(), Since: t.Since,
				Link:   fmt.Sprintf("/admin/events?shop_id=%d&platform=%s&delivery_status=%s", t.ShopID, t.Platform, store.DeliveryRetrying),
				Action: "See the orders", ShopID: t.ShopID})
		}
	}

	// Conversions a platform refused for good in the last day: nothing
	// sends them again until someone fixes the cause and redelivers.
	failures, err := cfg.Store.RecentFailures(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	for _, f := range failures {
		x := delivery.Explain(f.Platform, store.DeliveryFailed, f.LastClass, f.LastError)
		out = append(out, problem{Level: healthBad,
			Title: fmt.Sprintf("%s for %s: %s failed in the last 24 hours and will not be retried.", platformLabel(f.Platform),
				names[f.ShopID].Name, plural(f.Count, "order")),
			Detail: "Latest: " + sentence(x.Headline), PlatformDetail: x.Detail(), Since: f.Last,
			Link:   fmt.Sprintf("/admin/events?shop_id=%d&platform=%s&delivery_status=%s", f.ShopID, f.Platform, store.DeliveryFailed),
			Action: "See the orders", ShopID: f.ShopID})
	}

	rejected, err := cfg.Store.RejectionsSince(ctx, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	for _, r := range rejected {
		sh, ok := names[r.ShopID]
		if !ok {
			continue
		}
		title := fmt.Sprintf("%s for %s were refused in the last hour: %s.", plural(r.Count, "webhook"), sh.Name, rejectionText(r.Reason))
		out = append(out, problem{Level: healthBad, Title: title, Detail: rejectionFix(r.Reason, sourceLabel(sh.Source)),
			Since: r.Last, Link: fmt.Sprintf("/admin/shops/%d/edit", sh.ID), Action: "Check the secret", ShopID: sh.ID})
	}

	const week = 7 * 24 * time.Hour
	activity, err := cfg.Store.ShopActivities(ctx, now.Add(-week))
	if err != nil {
		return nil, err
	}
	for _, sh := range shops {
		a, ok := activity[sh.ID]
		if !ok || a.Count == 0 {
			continue
		}
		days := min(week, now.Sub(sh.CreatedAt)).Hours() / 24
		if days < 1 {
			continue // too new to know what is usual
		}
		perDay := float64(a.Count) / days
		if perDay < 3 {
			continue
		}
		if silent := now.Sub(a.Last); silent > quietAfter(perDay) {
			out = append(out, problem{Level: healthWarn,
				Title: fmt.Sprintf("No webhook from %s for %s; it usually sends %.0f a day.", sh.Name, fmtSpan(silent), perDay),
				Detail: fmt.Sprintf("Check that the webhook subscription still exists in %s and points at this shop's URL, "+
					"and that %s reaches Postback.", sourceLabel(sh.Source), sourceLabel(sh.Source)),
				Since: a.Last, Link: fmt.Sprintf("/admin/shops/%d", sh.ID), Action: "Open the shop", ShopID: sh.ID})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Level == healthBad && out[j].Level != healthBad })
	return out, nil
}

func rejectionText(reason string) string {
	switch reason {
	case store.RejectMissingSignature:
		return "no signature"
	case store.RejectStaleTimestamp:
		return "a timestamp outside the tolerance"
	default:
		return "a signature that does not match the secret"
	}
}

func rejectionFix(reason, source string) string {
	switch reason {
	case store.RejectStaleTimestamp:
		return "Stripe signs with a timestamp: check this server's clock (NTP), or a proxy holding requests."
	case store.RejectMissingSignature:
		return "Something other than " + source + " posts to this URL, or a proxy strips the signature header."
	default:
		return "The signing secret saved here differs from " + source + "'s. Copy it again from " + source + " into the shop's settings."
	}
}

// shopHealth is each shop's worst problem level; shops without one are
// good.
func shopHealth(problems []problem) map[int64]string {
	out := map[int64]string{}
	for _, p := range problems {
		if out[p.ShopID] != healthBad {
			out[p.ShopID] = p.Level
		}
	}
	return out
}

// gridRow is one shop's line of the shop × platform grid.
type gridRow struct {
	ShopID int64
	Shop   string
	Cells  []gridCell
}

type gridCell struct {
	store.Cell
	Present    bool
	Level      string
	Rate       string
	ClickShare string
	Title      string
}

// buildGrid lays cells out as shops × platforms, each cell coloured by
// health: bad when orders wait for credentials or under 90% succeed, warn
// under 98%, good otherwise.
func buildGrid(cells []store.Cell, shops []store.Shop) (platforms []string, rows []gridRow) {
	byKey := map[string]store.Cell{}
	seen := map[string]bool{}
	for _, c := range cells {
		byKey[fmt.Sprintf("%d/%s", c.ShopID, c.Platform)] = c
		if !seen[c.Platform] {
			seen[c.Platform] = true
			platforms = append(platforms, c.Platform)
		}
	}
	sort.Strings(platforms)
	for _, sh := range shops {
		row := gridRow{ShopID: sh.ID, Shop: sh.Name}
		any := false
		for _, p := range platforms {
			c, ok := byKey[fmt.Sprintf("%d/%s", sh.ID, p)]
			gc := gridCell{Cell: c, Present: ok, Level: healthNone, Rate: "—", ClickShare: "—"}
			if ok {
				any = true
				gc.Level = healthGood
				if rate, ok := c.SuccessRate(); ok {
					gc.Rate = fmt.Sprintf("%d%%", int(rate*100+0.5))
					switch {
					case rate < 0.9:
						gc.Level = healthBad
					case rate < 0.98:
						gc.Level = healthWarn
					}
				} else if c.Waiting == 0 {
					gc.Level = healthNone
				}
				if share, ok := c.ClickIDShare(); ok {
					gc.ClickShare = fmt.Sprintf("%d%%", int(share*100+0.5))
				}
				if c.Parked > 0 {
					gc.Level = healthBad
				}
				gc.Title = fmt.Sprintf("%s · %s: %d delivered, %d waiting (%d for credentials), %d failed, %d skipped (not counted in the rate)", sh.Name, platformLabel(p),
					c.Delivered, c.Waiting, c.Parked, c.Failed, c.Skipped)
			}
			row.Cells = append(row.Cells, gc)
		}
		if any {
			rows = append(rows, row)
		}
	}
	return platforms, rows
}

// sentence ends a headline with a full stop; "" stays "".
func sentence(s string) string {
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// plural is "1 order", "12 orders".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fmtSpan says a duration as a person would: "6 days", "26 hours", "40
// minutes".
func fmtSpan(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	default:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	}
}

// webhookURLWarning says what is wrong with the public URL stores post
// to: an address they cannot reach (localhost, a private or link-local
// network) or plain http, which sends order data unencrypted.
func webhookURLWarning(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return "POSTBACK_PUBLIC_URL is not a URL; stores cannot reach this webhook URL. Set it to this server's public https address."
	}
	host := u.Hostname()
	local := host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal")
	if ip, err := netip.ParseAddr(host); err == nil {
		local = local || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()
	}
	switch {
	case local:
		return "This URL is on " + host + ", which Shopify, WooCommerce and Stripe cannot reach. Set POSTBACK_PUBLIC_URL to this server's public https address (or a tunnel's, for a test)."
	case u.Scheme != "https":
		return "This URL is plain http: order data (names, emails, addresses) would cross the internet unencrypted, and Shopify refuses it. Serve Postback over https and set POSTBACK_PUBLIC_URL to match."
	}
	return ""
}
