package web

import (
	"testing"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
)

// TestShowsQuality: a quality score only where it means something — never
// on a refund adjustment (the red "Q0"), a skipped delivery, or one whose
// credentials were refused.
func TestShowsQuality(t *testing.T) {
	m := &mapping.Match{Quality: 0}
	tests := []struct {
		name string
		d    store.Delivery
		want bool
	}{
		{"delivered conversion", store.Delivery{Kind: store.KindConversion, Status: store.DeliveryDelivered, Match: m}, true},
		{"refused event", store.Delivery{Kind: store.KindConversion, Status: store.DeliveryFailed, ErrorClass: "invalid", Match: m}, true},
		{"refund adjustment", store.Delivery{Kind: store.KindAdjustment, Status: store.DeliveryDelivered, Match: m}, false},
		{"skipped", store.Delivery{Kind: store.KindConversion, Status: store.DeliverySkipped, Match: m}, false},
		{"waiting for credentials", store.Delivery{Kind: store.KindConversion, Status: store.DeliveryWaitingCredentials, Match: m}, false},
		{"failed on credentials", store.Delivery{Kind: store.KindConversion, Status: store.DeliveryFailed, ErrorClass: "auth", Match: m}, false},
		{"nothing sent yet", store.Delivery{Kind: store.KindConversion, Status: store.DeliveryPending}, false},
	}
	for _, tt := range tests {
		if got := showsQuality(tt.d); got != tt.want {
			t.Errorf("showsQuality(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
