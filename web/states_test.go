package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// TestEachStateByOneName: every delivery state is called by the same name
// in the API (an event's deliveries and the delivery_status filter), the
// events list (chip and filter) and the event page.
func TestEachStateByOneName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	shop := h.createShop(t, "s3cret")
	dest := h.createDest(t, shop.ID, false)
	outcomes := map[string]store.Outcome{
		store.DeliveryDelivered: {Status: store.DeliveryDelivered, StatusCode: 200},
		store.DeliveryRetrying: {Status: store.DeliveryRetrying, ErrorClass: "transient", StatusCode: 503,
			Error: platforms.Transient(503, "", "fake: unavailable").Error(), NextAttemptAt: time.Now().Add(10 * time.Minute)},
		store.DeliveryWaitingCredentials: {Status: store.DeliveryRetrying, ErrorClass: "auth", Parked: true, StatusCode: 401,
			Error: platforms.Auth(401, "190", "fake: Error validating access token").Error() + "; waiting for new credentials", NextAttemptAt: time.Now()},
		store.DeliveryFailed: {Status: store.DeliveryFailed, ErrorClass: "invalid", StatusCode: 400,
			Error: platforms.Invalid(400, "100", "fake: Invalid parameter").Error()},
		store.DeliverySkipped: {Status: store.DeliverySkipped, ErrorClass: "invalid",
			Error: platforms.Invalid(0, "no_identifier", "nothing to match on; not sent").Error()},
	}
	events := map[string]int64{}
	for i, state := range []string{store.DeliveryDelivered, store.DeliveryRetrying, store.DeliveryWaitingCredentials, store.DeliveryFailed, store.DeliverySkipped} {
		events[state] = h.paidEvent(t, shop, fmt.Sprint(5000+i))
		h.complete(t, dest, outcomes[state])
	}
	events[store.DeliveryPending] = h.paidEvent(t, shop, "5999")

	b := h.loggedIn(t)
	for state, id := range events {
		t.Run(state, func(t *testing.T) {
			var one struct {
				Deliveries []struct {
					Status string `json:"status"`
				} `json:"deliveries"`
			}
			if code := h.api(t, http.MethodGet, fmt.Sprintf("/api/v1/events/%d", id), nil, &one); code != 200 || len(one.Deliveries) != 1 || one.Deliveries[0].Status != state {
				t.Errorf("API event: %d %+v, want one %s delivery", code, one, state)
			}
			var list struct {
				Events []struct {
					ID int64 `json:"id"`
				} `json:"events"`
			}
			if code := h.api(t, http.MethodGet, "/api/v1/events?delivery_status="+state, nil, &list); code != 200 || len(list.Events) != 1 || list.Events[0].ID != id {
				t.Errorf("API filter delivery_status=%s: %d %+v, want event %d only", state, code, list.Events, id)
			}
			p := b.get(t, "/admin/events?delivery_status="+state)
			if n := strings.Count(p.body, `<tr data-id="`); n != 1 || !strings.Contains(p.body, fmt.Sprintf(`<tr data-id="%d">`, id)) {
				t.Errorf("list filtered by %s has %d rows, want event %d only", state, n, id)
			}
			mustContain(t, "list", p.body, `<option selected>`+state+`</option>`, `class="chip chip-`+state+`"`, "fake · "+state)
			page := b.get(t, fmt.Sprintf("/admin/events/%d", id))
			mustContain(t, "event page", page.body, `<span class="chip chip-`+state+`">`+state+`</span>`)
			if state != store.DeliveryDelivered && state != store.DeliveryPending {
				// The timeline names the attempt's outcome the same way.
				mustContain(t, "timeline", page.body, "fake · attempt 1 · "+state)
			}
			mustNotContain(t, "event page", page.body, "· parked")
		})
	}
}
