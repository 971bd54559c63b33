package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postbackhq/postback/store"
)

// accountedPeriods are the windows of the accounted-for figure.
var accountedPeriods = []struct {
	Name string
	Span time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

type accountedPlatformJSON struct {
	Platform string           `json:"platform"`
	Sent     int64            `json:"sent"`
	Accepted int64            `json:"accepted"`
	Failed   int64            `json:"failed"`
	Waiting  int64            `json:"waiting"`
	Skipped  map[string]int64 `json:"skipped"`
	// Share is accepted plus skipped over paid in store; null without
	// orders.
	Share *float64 `json:"share"`
}

type accountedJSON struct {
	Period                    string                  `json:"period"`
	Since                     *string                 `json:"since"`
	Until                     *string                 `json:"until"`
	PaidInStore               int64                   `json:"paid_in_store"`
	ReceivedByWebhook         int64                   `json:"received_by_webhook"`
	RecoveredByReconciliation int64                   `json:"recovered_by_reconciliation"`
	TooOld                    int64                   `json:"too_old"`
	Platforms                 []accountedPlatformJSON `json:"platforms"`
}

func toAccountedJSON(period string, a store.Accounted) accountedJSON {
	out := accountedJSON{Period: period, Since: timeOrNil(a.Since), Until: timeOrNil(a.Until), PaidInStore: a.PaidInStore,
		ReceivedByWebhook: a.ReceivedByWebhook, RecoveredByReconciliation: a.RecoveredByReconciliation, TooOld: a.TooOld,
		Platforms: []accountedPlatformJSON{}}
	for _, p := range a.Platforms {
		pj := accountedPlatformJSON{Platform: p.Platform, Sent: p.Sent, Accepted: p.Accepted, Failed: p.Failed, Waiting: p.Waiting, Skipped: p.Skipped}
		if share, ok := p.Share(a.PaidInStore); ok {
			pj.Share = &share
		}
		out.Platforms = append(out.Platforms, pj)
	}
	return out
}

// accountedFor computes the three periods for a shop.
func accountedFor(ctx context.Context, st *store.Store, shopID int64, now time.Time) ([]accountedJSON, error) {
	out := make([]accountedJSON, 0, len(accountedPeriods))
	for _, p := range accountedPeriods {
		a, err := st.Accounted(ctx, shopID, now.Add(-p.Span), now.Add(time.Millisecond))
		if err != nil {
			return nil, err
		}
		out = append(out, toAccountedJSON(p.Name, a))
	}
	return out, nil
}

func handleShopAccounted(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, id); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		periods, err := accountedFor(ctx, cfg.Store, id, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		c.JSON(http.StatusOK, gin.H{"shop_id": id, "periods": periods})
	}
}

// AccountedCollector exports the accounted-for figure to /metrics,
// computed at each scrape.
type AccountedCollector struct {
	st     *store.Store
	log    *slog.Logger
	orders *prometheus.Desc
	share  *prometheus.Desc
}

// NewAccountedCollector returns a collector reading st.
func NewAccountedCollector(st *store.Store, log *slog.Logger) *AccountedCollector {
	return &AccountedCollector{st: st, log: log,
		orders: prometheus.NewDesc("postback_accounted_orders", "Paid orders per shop and period, by how Postback learned of them (webhook, reconciliation, too_old).",
			[]string{"shop_id", "period", "origin"}, nil),
		share: prometheus.NewDesc("postback_accounted_share", "Share of a shop's paid orders a platform accepted or Postback deliberately skipped, 0 to 1.",
			[]string{"shop_id", "platform", "period"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *AccountedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.orders
	ch <- c.share
}

// Collect implements prometheus.Collector.
func (c *AccountedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shops, err := c.st.Shops(ctx)
	if err != nil {
		c.log.Error("accounted metrics", slog.String("error", err.Error()))
		return
	}
	now := time.Now()
	for _, sh := range shops {
		id := strconv.FormatInt(sh.ID, 10)
		for _, p := range accountedPeriods {
			a, err := c.st.Accounted(ctx, sh.ID, now.Add(-p.Span), now)
			if err != nil {
				c.log.Error("accounted metrics", slog.String("error", err.Error()))
				return
			}
			ch <- prometheus.MustNewConstMetric(c.orders, prometheus.GaugeValue, float64(a.ReceivedByWebhook), id, p.Name, "webhook")
			ch <- prometheus.MustNewConstMetric(c.orders, prometheus.GaugeValue, float64(a.RecoveredByReconciliation), id, p.Name, "reconciliation")
			ch <- prometheus.MustNewConstMetric(c.orders, prometheus.GaugeValue, float64(a.TooOld), id, p.Name, "too_old")
			for _, pl := range a.Platforms {
				if share, ok := pl.Share(a.PaidInStore); ok {
					ch <- prometheus.MustNewConstMetric(c.share, prometheus.GaugeValue, share, id, pl.Platform, p.Name)
				}
			}
		}
	}
}
