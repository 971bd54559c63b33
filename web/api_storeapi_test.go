package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/web"
)

// fakeReconciler records runs and answers a fixed result.
type fakeReconciler struct{ runs []int64 }

func (f *fakeReconciler) Run(_ context.Context, shopID int64, trigger string) (store.ReconcileRun, error) {
	f.runs = append(f.runs, shopID)
	end := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	return store.ReconcileRun{ShopID: shopID, Trigger: trigger, Checked: 5, Missing: 2, Backfilled: 2,
		WindowStart: end.Add(-72 * time.Hour), WindowEnd: end}, nil
}

func TestShopStoreAPICredentialsAreWriteOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var created map[string]any
	code := h.api(t, "POST", "/api/v1/shops", map[string]any{
		"name": "Acme", "source": "shopify", "signing_secret": "shpss_1", "trigger": "paid",
		"settings":    map[string]any{"store_url": "https://acme.myshopify.com/"},
		"credentials": map[string]any{"admin_api_token": "shpat_verysecret", "api_secret": "app-secret-value"},
	}, &created)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, created)
	}
	raw, _ := json.Marshal(created)
	if strings.Contains(string(raw), "shpat_verysecret") || strings.Contains(string(raw), "app-secret-value") {
		t.Fatalf("answer leaks a credential: %s", raw)
	}
	if s := created["settings"].(map[string]any); s["store_url"] != "https://acme.myshopify.com" {
		t.Errorf("store_url = %v", s["store_url"])
	}
	if got := created["credentials_set"]; len(got.([]any)) != 2 {
		t.Errorf("credentials_set = %v, want admin_api_token and api_secret", got)
	}
	id := int64(created["id"].(float64))
	api, err := h.store.StoreAPI(context.Background(), id)
	if err != nil || api.Credentials["admin_api_token"] != "shpat_verysecret" {
		t.Fatalf("stored = %+v, %v", api.Credentials, err)
	}
	// A PATCH without the fields keeps them; "" removes one.
	var patched map[string]any
	h.api(t, "PATCH", "/api/v1/shops/"+itoa(id), map[string]any{"credentials": map[string]any{"api_secret": ""}}, &patched)
	if got := patched["credentials_set"].([]any); len(got) != 1 || got[0] != "admin_api_token" {
		t.Errorf("after removing api_secret: %v", got)
	}
	if s := patched["settings"].(map[string]any); s["store_url"] != "https://acme.myshopify.com" {
		t.Errorf("store_url after PATCH = %v", s["store_url"])
	}

	bad := []struct {
		name string
		body map[string]any
		want string
	}{
		{"plain http", map[string]any{"settings": map[string]any{"store_url": "http://acme.myshopify.com"}}, "settings.store_url"},
		{"not a URL", map[string]any{"settings": map[string]any{"store_url": "acme"}}, "settings.store_url"},
		{"credentials in URL", map[string]any{"settings": map[string]any{"store_url": "https://u:p@acme.myshopify.com"}}, "settings.store_url"},
		{"other store's key", map[string]any{"credentials": map[string]any{"consumer_key": "ck_1"}}, "credentials"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			if code := h.api(t, "PATCH", "/api/v1/shops/"+itoa(id), tt.body, &out); code != http.StatusUnprocessableEntity {
				t.Fatalf("PATCH %v: %d %v, want 422", tt.body, code, out)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name %s", msg, tt.want)
			}
			if after, _ := h.store.StoreAPI(context.Background(), id); after.URL != "https://acme.myshopify.com" || after.Credentials["admin_api_token"] != "shpat_verysecret" {
				t.Errorf("a refused PATCH changed the store API: %+v", after)
			}
		})
	}
}

func TestShopReconcileEndpoint(t *testing.T) {
	t.Parallel()
	rec := &fakeReconciler{}
	h := newHarness(t, func(c *web.Config) { c.Reconciler = rec })
	shop := h.createShop(t, "shpss_1")
	var out map[string]any
	if code := h.api(t, "POST", "/api/v1/shops/"+itoa(shop.ID)+"/reconcile", nil, &out); code != http.StatusOK {
		t.Fatalf("reconcile: %d %v", code, out)
	}
	want := map[string]any{"checked": 5.0, "missing": 2.0, "backfilled": 2.0, "too_old": 0.0,
		"window_start": "2026-11-30T12:00:00Z", "window_end": "2026-12-03T12:00:00Z"}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %v, want %v", k, out[k], v)
		}
	}
	if code := h.api(t, "POST", "/api/v1/shops/999/reconcile", nil, &out); code != http.StatusNotFound {
		t.Errorf("unknown shop: %d, want 404", code)
	}
	if len(rec.runs) != 1 {
		t.Errorf("runs = %v, want one", rec.runs)
	}
}

func TestUIShopStoreAPIForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *web.Config) { c.Reconciler = &fakeReconciler{} })
	b := h.loggedIn(t)
	shop := h.createShop(t, "shpss_1")
	form := b.get(t, "/admin/shops/"+itoa(shop.ID)+"/edit")
	mustContain(t, "edit form", form.body, `name="store_url"`, `name="admin_api_token"`, `name="api_secret"`)
	p := b.post(t, "/admin/shops/"+itoa(shop.ID), url.Values{"name": {"Acme"}, "trigger": {"paid"}, "value_rule": {"total"},
		"currency": {"shop"}, "store_url": {"https://acme.myshopify.com"}, "admin_api_token": {"shpat_formsecret"}})
	if p.code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.code, p.body)
	}
	page := b.get(t, "/admin/shops/"+itoa(shop.ID))
	mustContain(t, "shop page", page.body, "Store API and reconciliation", "Reconcile now", "Connect webhooks")
	edit := b.get(t, "/admin/shops/"+itoa(shop.ID)+"/edit")
	mustContain(t, "edit form", edit.body, `value="https://acme.myshopify.com"`, "forget_admin_api_token")
	mustNotContain(t, "edit form", edit.body, "shpat_formsecret")
	r := b.post(t, "/admin/shops/"+itoa(shop.ID)+"/reconcile", url.Values{})
	if r.code != http.StatusSeeOther || !strings.Contains(r.location, "msg=reconciled") {
		t.Errorf("reconcile now: %d %s", r.code, r.location)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestUIDashboardAccountedFor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.loggedIn(t)
	shop := h.createShop(t, "s3cret")
	h.createDest(t, shop.ID, false)
	h.paidEvent(t, shop, "7001")
	p := b.get(t, "/admin/")
	mustContain(t, "dashboard", p.body, "Paid orders accounted for", `href="/admin/shops/`+itoa(shop.ID)+`#accounted"`, "0%")
	var acc struct {
		Periods []struct {
			PaidInStore int64 `json:"paid_in_store"`
			Platforms   []struct {
				Platform string `json:"platform"`
				Waiting  int64  `json:"waiting"`
			} `json:"platforms"`
		} `json:"periods"`
	}
	if code := h.api(t, "GET", "/api/v1/shops/"+itoa(shop.ID)+"/accounted", nil, &acc); code != http.StatusOK {
		t.Fatalf("accounted: %d", code)
	}
	if len(acc.Periods) != 3 || acc.Periods[0].PaidInStore != 1 || len(acc.Periods[0].Platforms) != 1 || acc.Periods[0].Platforms[0].Waiting != 1 {
		t.Errorf("accounted = %+v", acc)
	}
}
