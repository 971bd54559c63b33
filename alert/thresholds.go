package alert

import (
	"fmt"
	"time"

	"github.com/postbackhq/postback/store"
)

// Thresholds say when the incidents that measure something open: how long
// a destination may fail, how low a platform's accounted-for share may
// go, how long a shop that usually gets webhooks may go without one.
type Thresholds struct {
	// FailingFor: a destination with conversions waiting for a retry for
	// this long.
	FailingFor time.Duration
	// SharePercent: a platform accounting for less than this share of the
	// paid orders of the 24 hours ending an hour ago, once there were at
	// least ShareMinOrders of them (fewer say too little).
	SharePercent   int
	ShareMinOrders int
	// SilentFor: no webhook for this long, after at least UsualWebhooks in
	// the six days before.
	SilentFor     time.Duration
	UsualWebhooks int
}

// DefaultThresholds are Postback's values where neither the shop nor the
// global settings say otherwise.
var DefaultThresholds = Thresholds{
	FailingFor:     DefaultFailingFor,
	SharePercent:   90,
	ShareMinOrders: 10,
	SilentFor:      24 * time.Hour,
	UsualWebhooks:  12,
}

// Resolve lays the set fields of each level over base, in order: the
// global thresholds, then the shop's.
func Resolve(base Thresholds, levels ...store.AlertThresholds) Thresholds {
	t := base
	for _, l := range levels {
		if l.FailingMinutes != nil {
			t.FailingFor = time.Duration(*l.FailingMinutes) * time.Minute
		}
		if l.SharePercent != nil {
			t.SharePercent = *l.SharePercent
		}
		if l.ShareMinOrders != nil {
			t.ShareMinOrders = *l.ShareMinOrders
		}
		if l.SilentHours != nil {
			t.SilentFor = time.Duration(*l.SilentHours) * time.Hour
		}
		if l.UsualWebhooks != nil {
			t.UsualWebhooks = *l.UsualWebhooks
		}
	}
	return t
}

// ThresholdError names the field of AlertThresholds that is out of range,
// by the name the API and the form use.
type ThresholdError struct {
	Field   string
	Message string
}

func (e *ThresholdError) Error() string { return e.Field + ": " + e.Message }

// ThresholdField is one settable threshold: its API name, its range and
// unit, and where it sits in store.AlertThresholds.
type ThresholdField struct {
	Name     string
	Label    string
	Unit     string
	Min, Max int
	Get      func(*store.AlertThresholds) **int
	// Effective reads the field's value from resolved thresholds.
	Effective func(Thresholds) int
}

// ThresholdFields lists the thresholds in the order forms show them.
var ThresholdFields = []ThresholdField{
	{Name: "failing_minutes", Label: "A destination fails for longer than", Unit: "minutes", Min: 5, Max: 7 * 24 * 60,
		Get:       func(t *store.AlertThresholds) **int { return &t.FailingMinutes },
		Effective: func(t Thresholds) int { return int(t.FailingFor / time.Minute) }},
	{Name: "share_percent", Label: "A platform's accounted-for share drops below", Unit: "%", Min: 1, Max: 100,
		Get:       func(t *store.AlertThresholds) **int { return &t.SharePercent },
		Effective: func(t Thresholds) int { return t.SharePercent }},
	{Name: "share_min_orders", Label: "… once the day had at least", Unit: "paid orders", Min: 1, Max: 1_000_000,
		Get:       func(t *store.AlertThresholds) **int { return &t.ShareMinOrders },
		Effective: func(t Thresholds) int { return t.ShareMinOrders }},
	{Name: "silent_hours", Label: "No webhook arrives for", Unit: "hours", Min: 1, Max: 6 * 24,
		Get:       func(t *store.AlertThresholds) **int { return &t.SilentHours },
		Effective: func(t Thresholds) int { return int(t.SilentFor / time.Hour) }},
	{Name: "usual_webhooks", Label: "… in a shop that got at least this many in the six days before", Unit: "webhooks", Min: 1, Max: 1_000_000,
		Get:       func(t *store.AlertThresholds) **int { return &t.UsualWebhooks },
		Effective: func(t Thresholds) int { return t.UsualWebhooks }},
}

// CheckThresholds returns the first field of t out of its range, or nil.
// Unset fields are fine.
func CheckThresholds(t store.AlertThresholds) *ThresholdError {
	for _, f := range ThresholdFields {
		if v := *f.Get(&t); v != nil && (*v < f.Min || *v > f.Max) {
			return &ThresholdError{Field: f.Name, Message: fmt.Sprintf("must be a whole number from %d to %d (%s), or empty to inherit", f.Min, f.Max, f.Unit)}
		}
	}
	return nil
}
