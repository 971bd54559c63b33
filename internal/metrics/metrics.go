// Package metrics declares Postback's Prometheus metrics, registered on a
// registry the caller owns (no global registry).
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's counters and histograms.
type Metrics struct {
	Webhooks          *prometheus.CounterVec   // source, status
	SignatureFailures *prometheus.CounterVec   // source
	WebhookSeconds    prometheus.Histogram     // time to verify, map and commit
	CommitErrors      prometheus.Counter       // webhooks answered 503
	Deliveries        *prometheus.CounterVec   // platform, outcome
	SendSeconds       *prometheus.HistogramVec // platform
	BatchSize         *prometheus.HistogramVec // platform
	// StoreErrors counts the delivery worker's failed database calls.
	StoreErrors *prometheus.CounterVec // op
	// WaitingCredentials counts deliveries held because a destination's
	// credentials were refused, and WindowSeconds says how long until the
	// first of them reaches the platform's event window and expires.
	WaitingCredentials *prometheus.GaugeVec   // platform
	WindowSeconds      *prometheus.GaugeVec   // platform
	Beacons            *prometheus.CounterVec // outcome
}

// New registers the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postback_webhooks_total", Help: "Webhooks stored, by store and status (accepted, ignored, duplicate, error).",
		}, []string{"source", "status"}),
		SignatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postback_webhook_signature_failures_total", Help: "Webhooks refused for a missing or wrong signature.",
		}, []string{"source"}),
		WebhookSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "postback_webhook_duration_seconds", Help: "Time from reading a webhook to its committed answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		CommitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "postback_webhook_commit_errors_total", Help: "Webhooks answered 503 because the database could not commit.",
		}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postback_deliveries_total", Help: "Delivery attempts by platform and outcome (delivered, retrying, waiting_credentials, failed, skipped; expired).",
		}, []string{"platform", "outcome"}),
		SendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "postback_platform_request_duration_seconds", Help: "Time an ad platform took to answer a batch.",
			Buckets: prometheus.DefBuckets,
		}, []string{"platform"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "postback_platform_batch_size", Help: "Conversions per request to an ad platform.",
			Buckets: []float64{1, 5, 10, 50, 100, 250, 500, 1000, 2000},
		}, []string{"platform"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "postback_delivery_store_errors_total", Help: "Database calls of the delivery worker that failed, by operation.",
		}, []string{"op"}),
		WaitingCredentials: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "postback_deliveries_waiting_credentials", Help: "Deliveries waiting because the platform refused the destination's credentials.",
		}, []string{"platform"}),
		WindowSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "postback_deliveries_waiting_credentials_window_seconds", Help: "Seconds until the first delivery waiting for credentials passes the platform's event window and expires.",
		}, []string{"platform"}),
	}
	m.Beacons = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "postback_beacons_total",
		Help: "Browser beacons by outcome (stored, joined, duplicate, too_late, bad_request, too_large, unknown_shop, rate_limited).",
	}, []string{"outcome"})
	reg.MustRegister(m.Webhooks, m.SignatureFailures, m.WebhookSeconds, m.CommitErrors, m.Deliveries, m.SendSeconds, m.BatchSize, m.Beacons,
		m.StoreErrors, m.WaitingCredentials, m.WindowSeconds)
	return m
}

// APIVersionSample is one destination's platform API version and the days
// left until the platform stops serving it.
type APIVersionSample struct {
	DestinationID int64
	Platform      string
	Version       string
	DaysLeft      float64
}

// apiVersions reads the destinations' API versions at scrape time, so the
// gauge follows settings changes without anyone updating it.
type apiVersions struct {
	desc *prometheus.Desc
	list func(ctx context.Context) ([]APIVersionSample, error)
}

// NewAPIVersionCollector exports postback_destination_api_version_days_left
// {destination_id,platform,version} for each sample list returns. A scrape
// whose list fails reports the error to Prometheus (the scrape shows it)
// rather than stale values. list gets 5 seconds.
func NewAPIVersionCollector(list func(ctx context.Context) ([]APIVersionSample, error)) prometheus.Collector {
	return &apiVersions{
		desc: prometheus.NewDesc("postback_destination_api_version_days_left",
			"Days until the platform stops serving the API version a destination speaks (negative once past); only versions with an announced end.",
			[]string{"destination_id", "platform", "version"}, nil),
		list: list,
	}
}

func (a *apiVersions) Describe(ch chan<- *prometheus.Desc) { ch <- a.desc }

func (a *apiVersions) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	samples, err := a.list(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(a.desc, err)
		return
	}
	for _, s := range samples {
		ch <- prometheus.MustNewConstMetric(a.desc, prometheus.GaugeValue, s.DaysLeft,
			strconv.FormatInt(s.DestinationID, 10), s.Platform, s.Version)
	}
}
