package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/postbackhq/postback/web"
)

// TestWaitingForCredentialsIsShown: deliveries of a destination whose
// credentials were refused show as waiting_credentials, with the reason
// and when the platform's window closes, in the API, the list (chip and
// filter) and the event page; saving the destination sends them at once.
func TestWaitingForCredentialsIsShown(t *testing.T) {
	t.Parallel()
	notified := make(chan struct{}, 10)
	h := newHarness(t, func(c *web.Config) { c.Notify = func() { notified <- struct{}{} } })
	shop := h.createShop(t, "s3cret")
	dest := h.createDest(t, shop.ID, false)
	ev := h.paidEvent(t, shop, "7001")
	now := time.Now()
	if err := h.store.ParkDestinationUntil(context.Background(), dest, "Error validating access token (code 190)", 1, now, now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Events []struct {
			ID         int64 `json:"id"`
			Deliveries []struct {
				Status    string  `json:"status"`
				LastError string  `json:"last_error"`
				ExpiresAt *string `json:"expires_at"`
			} `json:"deliveries"`
		} `json:"events"`
	}
	if code := h.api(t, http.MethodGet, "/api/v1/events?delivery_status=waiting_credentials", nil, &out); code != 200 {
		t.Fatalf("filter by waiting_credentials: %d", code)
	}
	if len(out.Events) != 1 || out.Events[0].ID != ev || len(out.Events[0].Deliveries) != 1 {
		t.Fatalf("events = %+v", out.Events)
	}
	d := out.Events[0].Deliveries[0]
	if d.Status != "waiting_credentials" || d.LastError == "" || d.ExpiresAt == nil {
		t.Errorf("delivery = %+v; want waiting_credentials with the reason and the window", d)
	}
	b := h.loggedIn(t)
	list := b.get(t, "/admin/events?delivery_status=waiting_credentials")
	mustContain(t, "events list", list.body, `class="chip chip-waiting_credentials"`, "fake · waiting_credentials",
		`<option selected>waiting_credentials</option>`, "access token")
	page := b.get(t, fmt.Sprintf("/admin/events/%d", ev))
	mustContain(t, "event page", page.body, "waiting_credentials", "Window closes", "access token")
	for len(notified) > 0 {
		<-notified
	}
	if code := h.api(t, http.MethodPatch, fmt.Sprintf("/api/v1/destinations/%d", dest), map[string]any{"enabled": true}, nil); code != 200 {
		t.Fatalf("PATCH: %d", code)
	}
	select {
	case <-notified:
	default:
		t.Error("saving a parked destination did not wake the worker")
	}
	if code := h.api(t, http.MethodGet, "/api/v1/events?delivery_status=pending", nil, &out); code != 200 || len(out.Events) != 1 || out.Events[0].Deliveries[0].Status != "pending" {
		t.Errorf("after saving: %d %+v; want the delivery pending again", code, out.Events)
	}
}
