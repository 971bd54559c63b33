package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/postbackhq/postback/store"
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
