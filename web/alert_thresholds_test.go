package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// rawJSON is a request body sent as written.
func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

type thresholdsAnswer struct {
	ShopID    int64           `json:"shop_id"`
	Set       map[string]*int `json:"set"`
	Inherited map[string]int  `json:"inherited"`
	Effective map[string]int  `json:"effective"`
	Error     string          `json:"error"`
}

func TestAlertThresholdsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sh := h.createShop(t, "shpss_thresholds")
	shopPath := "/api/v1/shops/" + itoa(sh.ID) + "/alert-thresholds"
	var got thresholdsAnswer
	if code := h.api(t, "GET", "/api/v1/alert-thresholds", nil, &got); code != http.StatusOK {
		t.Fatalf("get global: %d %+v", code, got)
	}
	want := map[string]int{"failing_minutes": 60, "share_percent": 90, "share_min_orders": 10, "silent_hours": 24, "usual_webhooks": 12}
	for k, v := range want {
		if got.Effective[k] != v || got.Set[k] != nil {
			t.Errorf("global default %s = %d (set %v), want %d, unset", k, got.Effective[k], got.Set[k], v)
		}
	}
	if code := h.api(t, "PUT", "/api/v1/alert-thresholds", map[string]any{"share_percent": 80, "silent_hours": 12}, &got); code != http.StatusOK ||
		got.Effective["share_percent"] != 80 || got.Effective["silent_hours"] != 12 {
		t.Fatalf("put global: %d %+v", code, got)
	}
	if code := h.api(t, "PUT", shopPath, map[string]any{"silent_hours": 6, "failing_minutes": nil}, &got); code != http.StatusOK {
		t.Fatalf("put shop: %d %+v", code, got)
	}
	if got.ShopID != sh.ID || got.Effective["silent_hours"] != 6 || got.Effective["share_percent"] != 80 || got.Inherited["silent_hours"] != 12 ||
		got.Set["share_percent"] != nil || got.Set["silent_hours"] == nil || *got.Set["silent_hours"] != 6 {
		t.Errorf("shop thresholds = %+v, want silent 6 of its own over the global 12, share 80 inherited", got)
	}

	bad := []struct {
		body  string
		code  int
		field string
	}{
		{`{"share_percent": 120}`, http.StatusUnprocessableEntity, "share_percent"},
		{`{"share_percent": 0}`, http.StatusUnprocessableEntity, "share_percent"},
		{`{"failing_minutes": 1}`, http.StatusUnprocessableEntity, "failing_minutes"},
		{`{"silent_hours": 200}`, http.StatusUnprocessableEntity, "silent_hours"},
		{`{"usual_webhooks": -3}`, http.StatusUnprocessableEntity, "usual_webhooks"},
		{`{"share_min_orders": 0}`, http.StatusUnprocessableEntity, "share_min_orders"},
		{`{"silent_hours": 1.5}`, http.StatusBadRequest, "silent_hours"},
		{`{"silent_hours": "6"}`, http.StatusBadRequest, "silent_hours"},
		{`{"silence": 6}`, http.StatusBadRequest, "silence"},
	}
	for _, b := range bad {
		var res thresholdsAnswer
		if code := h.api(t, "PUT", shopPath, rawJSON(b.body), &res); code != b.code || !strings.Contains(res.Error, b.field) {
			t.Errorf("PUT %s: %d %q, want %d naming %s", b.body, code, res.Error, b.code, b.field)
		}
	}
	// Refused bodies changed nothing.
	if h.api(t, "GET", shopPath, nil, &got); got.Effective["silent_hours"] != 6 || got.Effective["share_percent"] != 80 {
		t.Errorf("after refused bodies: %+v", got)
	}
	var res thresholdsAnswer
	if code := h.api(t, "GET", "/api/v1/shops/99999/alert-thresholds", nil, &res); code != http.StatusNotFound {
		t.Errorf("unknown shop: %d", code)
	}
}

func TestUIAlertThresholds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sh := h.createShop(t, "shpss_thresholds_ui")
	b := h.loggedIn(t)
	p := b.get(t, "/admin/alerts")
	mustContain(t, "alerts page", p.body, "When to alert", `name="share_percent"`, `placeholder="90"`, "Postback's default")
	r := b.post(t, "/admin/alerts/thresholds", url.Values{"shop_id": {"0"}, "share_percent": {"150"}, "silent_hours": {"12"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("share 150: %d", r.code)
	}
	mustContain(t, "refused form", r.body, "has-error", "from 1 to 100", `value="150"`, `value="12"`)
	if r := b.post(t, "/admin/alerts/thresholds", url.Values{"shop_id": {"0"}, "share_percent": {"abc"}}); r.code != http.StatusUnprocessableEntity {
		t.Errorf("share abc: %d", r.code)
	}
	all, _ := h.store.AlertThresholds(context.Background())
	if len(all) != 0 {
		t.Fatalf("refused forms saved %+v", all)
	}
	if r := b.post(t, "/admin/alerts/thresholds", url.Values{"shop_id": {"0"}, "share_percent": {"85"}}); r.code != http.StatusSeeOther {
		t.Fatalf("save global: %d %s", r.code, r.body)
	}
	r = b.post(t, "/admin/alerts/thresholds", url.Values{"shop_id": {itoa(sh.ID)}, "silent_hours": {"6"}, "share_percent": {""}})
	if r.code != http.StatusSeeOther || !strings.Contains(r.location, "thresholds="+itoa(sh.ID)) {
		t.Fatalf("save shop: %d %s", r.code, r.location)
	}
	all, _ = h.store.AlertThresholds(context.Background())
	if g, s := all[0], all[sh.ID]; g.SharePercent == nil || *g.SharePercent != 85 || s.SilentHours == nil || *s.SilentHours != 6 || s.SharePercent != nil {
		t.Errorf("saved %+v / %+v", g, s)
	}
	p = b.get(t, strings.TrimSuffix(r.location, "#thresholds"))
	mustContain(t, "shop thresholds", p.body, `value="6"`, `placeholder="85"`, "the global value", "Thresholds saved")
	if r := b.post(t, "/admin/alerts/thresholds", url.Values{"shop_id": {"99999"}}); r.code != http.StatusNotFound {
		t.Errorf("unknown shop: %d", r.code)
	}
}
