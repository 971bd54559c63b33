package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// window is one of the dashboard's two time ranges.
type window struct {
	Key    string
	Label  string
	Span   time.Duration
	Bucket time.Duration
}

var dashboardWindows = []window{
	{Key: "24h", Label: "Last 24 hours", Span: 24 * time.Hour, Bucket: time.Hour},
	{Key: "7d", Label: "Last 7 days", Span: 7 * 24 * time.Hour, Bucket: 24 * time.Hour},
}

type dashboardPage struct {
	page
	Window    window
	Windows   []window
	Day, Week store.Stats
	Stats     store.Stats
	Charts    []chart
	Platforms []platformRow
	NoShops   bool
	// Problems lead the page: what is wrong now and what to do.
	Problems []problem
	// GridPlatforms and Grid are the shop × platform grid over the window.
	GridPlatforms []string
	Grid          []gridRow
	// VersionWarnings lists destinations whose API version ends soon or
	// has ended.
	VersionWarnings []versionWarning
	// Verdicts are the platforms' own match-quality scores, beside our
	// estimate per destination.
	Verdicts []verdictRow
}

// versionWarning is one destination's API version warning.
type versionWarning struct {
	DestinationID int64
	Shop          string
	Platform      string
	Text          string
}

// chart is a bar chart drawn as inline SVG.
type chart struct {
	Title      string
	Unit       string
	Total      int64
	Max        int64
	Width      int
	Height     int
	Bars       []chartBar
	StartLabel string
	EndLabel   string
}

type chartBar struct {
	X, Y, W, H float64
	Value      int64
	Label      string
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 600
	chartHeight = 120
)

// newChart scales a series to bars; each bar's tooltip names its bucket.
func newChart(title, unit string, series []int64, st store.Stats, w window) chart {
	ch := chart{Title: title, Unit: unit, Width: chartWidth, Height: chartHeight,
		StartLabel: fmtAgoSpan(w.Span), EndLabel: "now"}
	for _, v := range series {
		ch.Total += v
		ch.Max = max(ch.Max, v)
	}
	if len(series) == 0 {
		return ch
	}
	slot := float64(chartWidth) / float64(len(series))
	for i, v := range series {
		h := 0.0
		if ch.Max > 0 {
			h = float64(v) / float64(ch.Max) * (chartHeight - 4)
		}
		if v > 0 && h < 2 {
			h = 2
		}
		start := st.Since.Add(time.Duration(i) * st.Bucket)
		ch.Bars = append(ch.Bars, chartBar{
			X: round1(float64(i)*slot + slot*0.15), W: round1(slot * 0.7), Y: round1(chartHeight - h), H: round1(h), Value: v,
			Label: fmt.Sprintf("%s to %s: %d %s", fmtTime(start), fmtTime(start.Add(st.Bucket)), v, unit),
		})
	}
	return ch
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

func fmtAgoSpan(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return fmt.Sprintf("%d hours ago", int(d.Hours()))
}

// platformRow is one platform's line in the dashboard table.
type platformRow struct {
	store.PlatformStats
	Label        string
	Rate         string
	RateClass    string
	ClickShare   string
	ClickPercent int
}

func platformRows(st store.Stats) []platformRow {
	var out []platformRow
	for _, p := range st.Platforms {
		r := platformRow{PlatformStats: p, Label: platformLabel(p.Platform), Rate: "—", ClickShare: "—"}
		if rate, ok := p.SuccessRate(); ok {
			r.Rate = fmt.Sprintf("%d%%", int(rate*100+0.5))
			switch {
			case rate >= 0.98:
				r.RateClass = "good"
			case rate >= 0.9:
				r.RateClass = "fair"
			default:
				r.RateClass = "poor"
			}
		}
		if share, ok := p.ClickIDShare(); ok {
			r.ClickPercent = int(share*100 + 0.5)
			r.ClickShare = fmt.Sprintf("%d%%", r.ClickPercent)
		}
		out = append(out, r)
	}
	return out
}

func handleUIDashboard(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		// Windows end just after now: the store's windows exclude their
		// end, and an event received this very millisecond counts.
		until := cfg.Now().UTC().Add(time.Millisecond)
		p := dashboardPage{page: pageFor(c, "Dashboard", "dashboard"), Window: dashboardWindows[0], Windows: dashboardWindows}
		for _, w := range dashboardWindows {
			if c.Query("window") == w.Key {
				p.Window = w
			}
		}
		shops, err := cfg.Store.Shops(ctx)
		if err != nil {
			v.storeFail(c, err, "shops")
			return
		}
		p.NoShops = len(shops) == 0
		for _, sh := range shops {
			dests, err := cfg.Store.Destinations(ctx, sh.ID)
			if err != nil {
				v.storeFail(c, err, "destinations")
				return
			}
			for _, d := range dests {
				if vs := platforms.VersionOf(d.Platform, d.Settings, cfg.Now()); vs.Warning != "" {
					p.VersionWarnings = append(p.VersionWarnings, versionWarning{DestinationID: d.ID, Shop: sh.Name, Platform: d.Platform, Text: vs.Warning})
				}
			}
		}
		if p.Problems, err = loadProblems(ctx, cfg, shops, cfg.Now().UTC()); err != nil {
			v.storeFail(c, err, "health")
			return
		}
		cells, err := cfg.Store.Grid(ctx, until.Add(-p.Window.Span))
		if err != nil {
			v.storeFail(c, err, "statistics")
			return
		}
		p.GridPlatforms, p.Grid = buildGrid(cells, shops)
		for i, w := range dashboardWindows {
			st, err := cfg.Store.Stats(ctx, until.Add(-w.Span), until, w.Bucket)
			if err != nil {
				v.storeFail(c, err, "statistics")
				return
			}
			if i == 0 {
				p.Day = st
			} else {
				p.Week = st
			}
			if w.Key == p.Window.Key {
				p.Stats = st
				p.Charts = []chart{
					newChart("Webhooks received", "webhooks", st.WebhookSeries, st, w),
					newChart("Conversions sent", "conversions", st.SentSeries, st, w),
				}
				p.Platforms = platformRows(st)
			}
		}
		p.Verdicts = verdictRows(c.Request.Context(), cfg)
		v.render(c, http.StatusOK, "dashboard", p)
	}
}
