package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// qualityEstimate is Postback's own view of a destination's matching:
// what its conversions carried over the last day and week, the mean 0–10
// estimate, and the one step that would help most.
type qualityEstimate struct {
	Quality float64           `json:"quality"`
	Last24h store.MatchShares `json:"last_24h"`
	Last7d  store.MatchShares `json:"last_7d"`
	Advice  string            `json:"advice"`
}

type qualityJSON struct {
	Estimate qualityEstimate          `json:"estimate"`
	Platform *mapping.PlatformQuality `json:"platform"`
}

// handleDestinationQuality serves GET /api/v1/destinations/{id}/quality:
// our estimate beside the platform's own verdict (null until the platform
// has answered); ?refresh=1 asks the platform now.
func handleDestinationQuality(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		d, err := cfg.Store.Destination(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		if c.Query("refresh") == "1" {
			if _, err := RefreshQuality(ctx, cfg.Store, cfg.Senders, d); err != nil && !errors.Is(err, errNoVerdict) {
				cfg.Log.WarnContext(ctx, "ask platform for match quality", slog.Int64("destination_id", d.ID), slog.String("error", err.Error()))
				jsonError(c, http.StatusBadGateway, "the platform did not answer: "+err.Error())
				return
			}
		}
		out, err := destinationQuality(ctx, cfg, d)
		if err != nil {
			storeError(c, cfg.Log, err, "quality")
			return
		}
		c.JSON(http.StatusOK, out)
	}
}

func destinationQuality(ctx context.Context, cfg Config, d store.Destination) (qualityJSON, error) {
	now := cfg.Now()
	day, err := cfg.Store.DestinationShares(ctx, d.ID, now.Add(-24*time.Hour))
	if err != nil {
		return qualityJSON{}, err
	}
	week, err := cfg.Store.DestinationShares(ctx, d.ID, now.Add(-7*24*time.Hour))
	if err != nil {
		return qualityJSON{}, err
	}
	pq, err := cfg.Store.Quality(ctx, d.ID)
	if err != nil {
		return qualityJSON{}, err
	}
	if pq == nil {
		// A platform with no quality API may still have judged what it
		// was sent: Google Data Manager's request status, polled by the
		// worker after each request.
		reqs, err := cfg.Store.PlatformRequests(ctx, d.ID, now.Add(-7*24*time.Hour))
		if err != nil {
			return qualityJSON{}, err
		}
		pq = requestVerdict(reqs)
	}
	sh, err := cfg.Store.Shop(ctx, d.ShopID)
	if err != nil {
		return qualityJSON{}, err
	}
	joined, mismatched, err := cfg.Store.PixelEventIDMismatch(ctx, d.ShopID, now.Add(-7*24*time.Hour))
	if err != nil {
		return qualityJSON{}, err
	}
	est := qualityEstimate{Quality: week.Quality, Last24h: day, Last7d: week}
	est.Advice = matchAdvice(sh, d.Platform, week, joined, mismatched, now)
	return qualityJSON{Estimate: est, Platform: pq}, nil
}

// matchAdvice names the single most useful next step for a shop's
// matching on one platform, most valuable first.
func matchAdvice(sh store.Shop, platform string, week store.MatchShares, joined, mismatched int, now time.Time) string {
	scriptOff := sh.ScriptSeenAt.IsZero() || now.Sub(sh.ScriptSeenAt) > ScriptRecent
	switch {
	case week.Conversions == 0:
		return "no conversions in the last 7 days yet"
	case scriptOff && sh.Source == mapping.SourceShopify:
		return "add the custom pixel (shop page › First-party capture) so each order carries the browser's click ids and cookies"
	case scriptOff:
		return "install the script (shop page › First-party capture) so each order carries the browser's click ids and cookies"
	case joined > 0 && mismatched*2 > joined:
		return fmt.Sprintf("the pixel sends different event ids than the server (%d of %d purchases): purchases count twice; send the event id shown on the shop page", mismatched, joined)
	case week.ClickID < 0.2 && week.FBP < 0.2:
		return "consent mode blocks most identifiers, or buyers arrive without ad clicks: check the consent banner passes consent to the script"
	case week.Email < 0.8:
		return "require an email at checkout"
	case week.Phone < 0.5 && platform != "google_ads":
		return "ask for a phone number at checkout"
	}
	return "nothing to fix: keep it as it is"
}

// requestVerdict sums up what a platform reported on the requests it
// processed after answering them (Google Data Manager's
// requestStatus:retrieve, as delivery/platform_status.go records it):
// requests per state, events accepted and failed, and the platform's error
// reasons with their counts. It gives no score (the platform gives none),
// and is nil when no request was followed up.
func requestVerdict(reqs []store.PlatformRequest) *mapping.PlatformQuality {
	if len(reqs) == 0 {
		return nil
	}
	states := map[string]int{}
	reasons := map[string]int{}
	var accepted, failed, waiting int
	var checked time.Time
	for _, r := range reqs {
		states[r.State]++
		total, errs, byReason := parseRequestDetail(r.Detail)
		for k, n := range byReason {
			reasons[k] += n
		}
		if total == 0 {
			total = r.Deliveries
		}
		switch r.State {
		case platforms.StatusAccepted:
			accepted += total
		case platforms.StatusPartial:
			failed += min(errs, total)
			accepted += total - min(errs, total)
		case platforms.StatusRejected:
			failed += total
		case store.PlatformProcessing:
			waiting += r.Deliveries
		}
		if r.State != store.PlatformProcessing && r.CheckedAt.After(checked) {
			checked = r.CheckedAt
		}
	}
	if checked.IsZero() {
		checked = reqs[0].CheckedAt
	}
	return &mapping.PlatformQuality{CheckedAt: checked.UTC(), Details: map[string]any{
		"source":        "request_status",
		"period_days":   7,
		"requests":      states,
		"events":        map[string]int{"accepted": accepted, "failed": failed, "processing": waiting},
		"error_reasons": reasons,
	}}
}

// parseRequestDetail reads the detail the request status poller records
// ("120 events; errors: INVALID_GCLID ×3, DUPLICATE_EVENT ×1", or the
// errors alone): the events in the request, the events in error, and the
// count per reason. Parts it cannot read count as nothing.
func parseRequestDetail(detail string) (total, errs int, reasons map[string]int) {
	reasons = map[string]int{}
	detail = strings.TrimSpace(detail)
	if n, rest, ok := strings.Cut(detail, " events"); ok {
		if v, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			total = v
			detail = strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(rest, ";")), "errors:")
		}
	}
	for _, part := range strings.Split(detail, ",") {
		reason, count, ok := strings.Cut(strings.TrimSpace(part), " ×")
		if !ok {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil || reason == "" {
			continue
		}
		reasons[reason] += v
		errs += v
	}
	return total, errs, reasons
}

// errNoVerdict: the platform offers no quality verdict to ask for.
var errNoVerdict = errors.New("platform reports no quality verdict")

// RefreshQuality asks a destination's platform for its verdict and keeps
// it. It returns errNoVerdict for platforms without one.
func RefreshQuality(ctx context.Context, st *store.Store, senders map[string]platforms.Sender, d store.Destination) (*mapping.PlatformQuality, error) {
	rep, ok := senders[d.Platform].(platforms.QualityReporter)
	if !ok {
		return nil, errNoVerdict
	}
	q, err := rep.Quality(ctx, platforms.Destination{ID: d.ID, ShopID: d.ShopID, Platform: d.Platform, Credentials: d.Credentials, Settings: d.Settings})
	if err != nil {
		return nil, err
	}
	if err := st.SaveQuality(ctx, d.ID, q); err != nil {
		return nil, err
	}
	return &q, nil
}
