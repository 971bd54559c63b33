package reconcile

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbackhq/postback/connectors"
	"github.com/postbackhq/postback/connectors/stripetest"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// stripeObject reads a Stripe webhook fixture's data.object with id,
// created and the given fields replaced.
func stripeObject(t *testing.T, file, id string, created time.Time, set map[string]any) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "connectors", "testdata", "stripe", file))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Data struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	o := ev.Data.Object
	o["id"], o["created"] = id, created.Unix()
	for k, v := range set {
		o[k] = v
	}
	return o
}

// stripeWebhook commits obj as the Stripe event typ would, the way the
// webhook handler does.
func stripeWebhook(t *testing.T, st *store.Store, sh store.Shop, typ string, obj map[string]any) store.Committed {
	t.Helper()
	body, err := json.Marshal(map[string]any{"id": "evt_" + obj["id"].(string), "object": "event", "type": typ,
		"created": obj["created"], "livemode": false, "api_version": "2024-06-20", "data": map[string]any{"object": obj}})
	if err != nil {
		t.Fatal(err)
	}
	wh, err := connectors.NewStripe().Parse(http.Header{}, body, sh.Rules)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.CommitBatch(context.Background(), []store.Incoming{{ShopID: sh.ID, Source: sh.Source, Topic: wh.Topic,
		Webhook: wh, Body: body, ReceivedAt: time.Now()}}, routing{})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// TestStripeReconcileCoversEveryPaidObject: a Stripe shop is paid through
// Checkout, through a subscription's first invoice and through bare
// PaymentIntents. Reconciliation, through stripe-go pointed at a fake
// Stripe, backfills each purchase whose webhook was lost exactly once,
// whichever of its objects it lists, and the webhooks that come later for
// those purchases are duplicates.
func TestStripeReconcileCoversEveryPaidObject(t *testing.T) {
	for name, st := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh, err := st.CreateShop(ctx, store.Shop{Name: "Stripe", Source: mapping.SourceStripe, SigningSecret: "whsec_1",
				StripeAPIKey: "rk_test_1", Rules: mapping.ShopRules{Trigger: mapping.TriggerPaid}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateDestination(ctx, store.Destination{ShopID: sh.ID, Platform: "meta", Enabled: true,
				Credentials: map[string]string{"pixel_id": "1", "access_token": "t"}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			at := time.Now().Add(-2 * time.Hour)
			fake := &stripetest.API{Key: "rk_test_1"}
			session := stripeObject(t, "checkout_session_completed.json", "cs_test_1", at, map[string]any{"payment_intent": "pi_cs_1"})
			sessionPI := stripeObject(t, "payment_intent_succeeded.json", "pi_cs_1", at, map[string]any{"latest_charge": "ch_cs_1"})
			invoice := stripeObject(t, "invoice_paid_subscription_create.json", "in_test_1", at, map[string]any{"payment_intent": "pi_in_1",
				"status_transitions": map[string]any{"paid_at": at.Unix()}})
			invoicePI := stripeObject(t, "payment_intent_succeeded.json", "pi_in_1", at, map[string]any{"invoice": "in_test_1", "latest_charge": "ch_in_1"})
			solo := stripeObject(t, "payment_intent_succeeded.json", "pi_solo", at, map[string]any{"latest_charge": "ch_solo"})
			lost := stripeObject(t, "payment_intent_succeeded.json", "pi_lost", at, map[string]any{"latest_charge": "ch_lost"})
			fake.Add(stripetest.Sessions, session)
			fake.Add(stripetest.Invoices, invoice)
			fake.Add(stripetest.PaymentIntents, sessionPI, invoicePI, solo, lost)
			srv := httptest.NewServer(fake)
			defer srv.Close()

			// pi_solo's webhook came; the others were lost.
			stripeWebhook(t, st, sh, "payment_intent.succeeded", solo)

			api := connectors.NewStripeAPI(srv.URL, srv.Client())
			r := New(Config{
				Store: st, Routing: routing{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Connectors: map[mapping.Source]connectors.Connector{mapping.SourceStripe: connectors.NewStripe()},
				Listers:    map[mapping.Source]connectors.OrderLister{mapping.SourceStripe: api},
			})
			run, err := r.Run(ctx, sh.ID, "manual")
			if err != nil {
				t.Fatal(err)
			}
			// cs_test_1 stands for pi_cs_1; pi_in_1 is its invoice's.
			if run.Checked != 4 || run.Missing != 3 || run.Backfilled != 3 || run.TooOld != 0 {
				t.Errorf("run = %+v, want checked 4, missing 3, backfilled 3", run)
			}
			n, origins := deliveriesByOrder(t, st, sh.ID)
			want := map[string]string{"cs_test_1": "reconciliation/accepted", "in_test_1": "reconciliation/accepted",
				"pi_lost": "reconciliation/accepted", "pi_solo": "webhook/accepted"}
			for order, o := range want {
				if n[order] != 1 || len(origins[order]) != 1 || origins[order][0] != o {
					t.Errorf("order %s: %d deliveries, events %v; want one delivery, event %s", order, n[order], origins[order], o)
				}
			}
			if len(origins) != len(want) {
				t.Errorf("events for orders %v, want only %v", origins, want)
			}
			// The lost webhooks turn up after all: the same purchases.
			for _, late := range []struct {
				typ string
				obj map[string]any
			}{{"payment_intent.succeeded", sessionPI}, {"invoice.paid", invoice}, {"checkout.session.completed", session}, {"payment_intent.succeeded", lost}} {
				if res := stripeWebhook(t, st, sh, late.typ, late.obj); res.Status != store.StatusDuplicate {
					t.Errorf("late %s for %s: %+v, want a duplicate", late.typ, late.obj["id"], res)
				}
			}
			again, err := r.Run(ctx, sh.ID, "manual")
			if err != nil || again.Missing != 0 {
				t.Errorf("second run = %+v, %v; want nothing missing", again, err)
			}
			if n, _ := deliveriesByOrder(t, st, sh.ID); n["cs_test_1"]+n["in_test_1"]+n["pi_lost"]+n["pi_solo"]+n["pi_cs_1"] != 4 {
				t.Errorf("deliveries after late webhooks and a second run = %v, want 4", n)
			}
		})
	}
}
