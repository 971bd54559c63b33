package web

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackhq/postback/internal/metrics"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// NewVersionCollector exports, for every destination whose API version has
// an announced end, the days left until that end
// (postback_destination_api_version_days_left), read from the store at
// each scrape.
// A nil now means time.Now.
func NewVersionCollector(st *store.Store, now func() time.Time) prometheus.Collector {
	if now == nil {
		now = time.Now
	}
	return metrics.NewAPIVersionCollector(func(ctx context.Context) ([]metrics.APIVersionSample, error) {
		shops, err := st.Shops(ctx)
		if err != nil {
			return nil, err
		}
		var out []metrics.APIVersionSample
		for _, sh := range shops {
			dests, err := st.Destinations(ctx, sh.ID)
			if err != nil {
				return nil, err
			}
			for _, d := range dests {
				vs := platforms.VersionOf(d.Platform, d.Settings, now())
				if !vs.Known() {
					continue
				}
				out = append(out, metrics.APIVersionSample{
					DestinationID: d.ID, Platform: d.Platform, Version: vs.Version,
					DaysLeft: float64(vs.DaysLeft),
				})
			}
		}
		return out, nil
	})
}
