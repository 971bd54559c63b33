package delivery

import (
	"time"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// defaultMaxAge is the window assumed for a platform that names none.
const defaultMaxAge = 7 * 24 * time.Hour

// Routing answers the store's routing questions from the platform senders.
type Routing struct {
	senders map[string]platforms.Sender
}

var _ store.Routing = Routing{}

// NewRouting returns routing over the given senders, keyed by platform.
func NewRouting(senders map[string]platforms.Sender) Routing {
	return Routing{senders: senders}
}

// Accepts sends live conversions to every destination of a known platform,
// and test conversions only to destinations in the platform's test mode.
func (r Routing) Accepts(platform string, settings map[string]string, test bool) bool {
	s, ok := r.senders[platform]
	if !ok {
		return false
	}
	return !test || s.TestMode(platforms.Destination{Platform: platform, Settings: settings})
}

// Adjusts reports whether the platform takes refund adjustments.
func (r Routing) Adjusts(platform string) bool {
	_, ok := r.senders[platform].(platforms.Adjuster)
	return ok
}

// destinationAdjuster is a sender whose refund support depends on the
// destination (platforms.APIChoice).
type destinationAdjuster interface {
	AdjustsFor(d platforms.Destination) bool
}

// AdjustsFor reports whether a destination takes refund adjustments, for
// platforms whose settings.api picks an interface with or without them.
func (r Routing) AdjustsFor(platform string, settings map[string]string) bool {
	s, ok := r.senders[platform]
	if !ok {
		return false
	}
	if c, ok := s.(destinationAdjuster); ok {
		return c.AdjustsFor(platforms.Destination{Platform: platform, Settings: settings})
	}
	_, ok = s.(platforms.Adjuster)
	return ok
}

// MaxAge is the platform's event window.
func (r Routing) MaxAge(platform string) time.Duration {
	if s, ok := r.senders[platform]; ok && s.MaxAge() > 0 {
		return s.MaxAge()
	}
	return defaultMaxAge
}
