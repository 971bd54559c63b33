package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/store"
)

// captureView is the shop page's first-party capture section: the script
// tag and the per-store snippets, with the pixels the merchant ticked.
type captureView struct {
	PublicID     string
	ScriptTag    string
	CustomPixel  string
	WooSnippet   string
	StripeScript string
	ScriptSeen   string
	// Pixels are the destinations whose browser pixel the snippet can fire.
	Pixels []pixelTick
	// PixelHints name destinations whose pixel could be fired once their
	// pixel id is known.
	PixelHints []string
}

type pixelTick struct {
	Platform string
	Label    string
	Ticked   bool
}

// pixelIDKeys names, per platform, the destination values that identify
// its browser pixel, first found wins (the id is public: the pixel puts it
// in every page). Meta's dataset, TikTok's pixel code, Snapchat's and
// Reddit's pixel ids are the ones their Conversions APIs use too; a Reddit
// v2.0 destination's ad account id is the pixel id (t2_…/a2_…); Pinterest's
// Conversions API names the ad account, so its tag id is a setting of its
// own.
var pixelIDKeys = map[string][]string{
	"meta": {"pixel_id"}, "tiktok": {"pixel_code"}, "snapchat": {"pixel_id"},
	"reddit": {"pixel_id", "ad_account_id"}, "pinterest": {"tag_id"},
}

// pixelID is the id of a destination's browser pixel, "" when unknown.
func pixelID(d store.Destination) string {
	for _, k := range pixelIDKeys[d.Platform] {
		if v := strings.TrimSpace(d.Credentials[k]); v != "" {
			return v
		}
		if v := strings.TrimSpace(d.Settings[k]); v != "" {
			return v
		}
	}
	return ""
}

func viewCapture(cfg Config, sh store.Shop, ds []store.Destination, ticked []string) captureView {
	v := captureView{PublicID: sh.PublicID, ScriptTag: ScriptTag(cfg.PublicURL, sh)}
	var chosen []PixelChoice
	for _, d := range ds {
		id := pixelID(d)
		if id == "" && d.Platform == "pinterest" {
			v.PixelHints = append(v.PixelHints, "set the Pinterest destination’s Tag ID to fire the Pinterest tag too")
		}
		if id == "" || slices.ContainsFunc(v.Pixels, func(p pixelTick) bool { return p.Platform == d.Platform }) {
			continue
		}
		on := slices.Contains(ticked, d.Platform)
		v.Pixels = append(v.Pixels, pixelTick{Platform: d.Platform, Label: platformLabel(d.Platform), Ticked: on})
		if on {
			chosen = append(chosen, PixelChoice{Platform: d.Platform, PixelID: id})
		}
	}
	v.CustomPixel = ShopifyCustomPixel(cfg.PublicURL, sh, chosen)
	v.WooSnippet = WooCommerceSnippet(cfg.PublicURL, sh, chosen)
	v.StripeScript = StripeSnippet(cfg.PublicURL, sh)
	if !sh.ScriptSeenAt.IsZero() {
		v.ScriptSeen = sh.ScriptSeenAt.Format("2006-01-02 15:04 UTC")
	}
	return v
}

// handleUIQualityRefresh asks the destination's platform for its verdict
// now, then shows the destination again.
func handleUIQualityRefresh(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, _, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		msg := "quality-refreshed"
		if _, err := RefreshQuality(c.Request.Context(), cfg.Store, cfg.Senders, d); err != nil {
			cfg.Log.WarnContext(c.Request.Context(), "ask platform for match quality", slog.Int64("destination_id", d.ID), slog.String("error", err.Error()))
			msg = "quality-failed"
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/destinations/%d?msg=%s#quality", d.ID, msg))
	}
}

// percent shows a share (0–1) as a whole percentage.
func percent(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// pctOf shows a percentage Meta reports either as a number or as
// {"percentage": n}; "?" when it is neither.
func pctOf(v any) string {
	if m, ok := v.(map[string]any); ok {
		v = m["percentage"]
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.0f%%", f)
	}
	return "?"
}

// verdictRow is one destination's platform verdict beside our estimate.
type verdictRow struct {
	DestinationID int64
	Shop          string
	Platform      string
	Score         string
	Estimate      string
	CheckedAt     string
}

// verdictRows lists the platforms' verdicts for the dashboard; a failure
// only leaves the section out.
func verdictRows(ctx context.Context, cfg Config) []verdictRow {
	vs, err := cfg.Store.Verdicts(ctx)
	if err != nil {
		cfg.Log.WarnContext(ctx, "platform verdicts", slog.String("error", err.Error()))
		return nil
	}
	var out []verdictRow
	for _, v := range vs {
		r := verdictRow{DestinationID: v.DestinationID, Shop: v.ShopName, Platform: platformLabel(v.Platform), Score: "—", Estimate: "—",
			CheckedAt: v.Quality.CheckedAt.Format("2006-01-02 15:04 UTC")}
		if v.Quality.Score != nil {
			r.Score = fmt.Sprintf("%.1f", *v.Quality.Score)
		} else if st, ok := v.Quality.Details["overall_status"].(string); ok && st != "" {
			// Pinterest's Event Quality Score is a status, not a number.
			r.Score = st
		}
		if week, err := cfg.Store.DestinationShares(ctx, v.DestinationID, cfg.Now().Add(-7*24*time.Hour)); err == nil && week.Conversions > 0 {
			r.Estimate = fmt.Sprintf("%.1f", week.Quality)
		}
		out = append(out, r)
	}
	return out
}
