package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// purgeBeacons deletes, every hour, browser beacons no order claimed
// within a day (and the waits of conversions whose beacon never came).
func purgeBeacons(ctx context.Context, st *store.Store, log *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := st.PurgeBeacons(ctx, time.Now()); err != nil {
			if ctx.Err() == nil {
				log.Error("purge expired beacons", slog.String("error", err.Error()))
			}
		} else if n > 0 {
			log.Info("purged expired browser beacons", slog.Int64("beacons", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// qualityEvery is how often each destination's platform is asked for its
// own verdict on match quality.
const qualityEvery = 6 * time.Hour

// pollQuality asks every enabled destination whose platform reports a
// match-quality verdict (Meta's Dataset Quality API) for it, a minute
// after start (not in the rush of a restart) and then every qualityEvery.
// A failure is logged and tried again next round.
func pollQuality(ctx context.Context, st *store.Store, senders map[string]platforms.Sender, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Minute):
	}
	tick := time.NewTicker(qualityEvery)
	defer tick.Stop()
	for {
		shops, err := st.Shops(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("list shops for quality", slog.String("error", err.Error()))
		}
		for _, sh := range shops {
			ds, err := st.Destinations(ctx, sh.ID)
			if err != nil {
				break
			}
			for _, d := range ds {
				if _, ok := senders[d.Platform].(platforms.QualityReporter); !ok || !d.Enabled {
					continue
				}
				if _, err := web.RefreshQuality(ctx, st, senders, d); err != nil && ctx.Err() == nil {
					log.Warn("ask platform for match quality", slog.Int64("destination_id", d.ID), slog.String("platform", d.Platform), slog.String("error", err.Error()))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
