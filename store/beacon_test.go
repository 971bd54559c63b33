package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

const ref = "b7c2e91f0d4a4c6e8f3a2d1c9b8e7f60"

func beacon() mapping.Beacon {
	return mapping.Beacon{
		OrderRef: ref, PageURL: "https://shop.example/thank-you", FBP: "fb.1.1715695200123.1187654321",
		ClickIDs:  map[string]mapping.BeaconClick{"fbclid": {Value: "IwAR-click", SeenAt: t0.Add(-time.Hour).Unix()}, "gclid": {Value: "Cj0-gclid"}},
		UserAgent: "Mozilla/5.0 test", ClientIP: "203.0.113.9",
	}
}

// withRef is a paid order whose browser knows ref, with the hold set.
func withRef(shopID int64, delivery, order string, hold time.Duration) store.Incoming {
	in := paid(shopID, delivery, order)
	in.Webhook.Conversion.OrderRef = ref
	in.BeaconHold, in.UsesScript = hold, true
	return in
}

func nextAttempt(t *testing.T, s *store.Store, eventID int64) time.Time {
	t.Helper()
	ev, err := s.Event(context.Background(), eventID)
	if err != nil || len(ev.Deliveries) != 1 {
		t.Fatalf("event %d: %v, %d deliveries", eventID, err, len(ev.Deliveries))
	}
	return ev.Deliveries[0].NextAttemptAt
}

func TestBeaconBeforeOrderIsJoinedAtCommit(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			res, err := s.SaveBeacon(ctx, sh.ID, beacon(), t0.Add(-time.Minute))
			if err != nil || res.Outcome != store.BeaconStored {
				t.Fatalf("SaveBeacon = %+v, %v; want stored", res, err)
			}
			in := withRef(sh.ID, "d1", "5001", 15*time.Second)
			in.Webhook.Conversion.ClickIDs.GCLID = "from-the-store"
			out, err := s.CommitBatch(ctx, []store.Incoming{in}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := s.Event(ctx, out[0].EventID)
			if err != nil {
				t.Fatal(err)
			}
			c := ev.Conversion
			wantFBC := mapping.FBC("IwAR-click", t0.Add(-time.Hour).Truncate(time.Second))
			switch {
			case !c.BeaconJoined, c.UserAgent != "Mozilla/5.0 test", c.ClientIP != "203.0.113.9",
				c.ClickIDs.FBP != "fb.1.1715695200123.1187654321", c.ClickIDs.FBC != wantFBC,
				c.SourceURL != "https://shop.example/thank-you":
				t.Errorf("joined conversion = %+v; want the beacon's context with fbc %s", c, wantFBC)
			}
			if c.ClickIDs.GCLID != "from-the-store" {
				t.Errorf("gclid = %q: the beacon overwrote the store's value", c.ClickIDs.GCLID)
			}
			if !ev.Match.FBP || !ev.Match.UserAgent {
				t.Errorf("match = %+v, want fbp and user agent", ev.Match)
			}
			// The beacon's click id is searchable like the store's.
			if found, err := s.Events(ctx, store.EventFilter{Query: c.ClickIDs.FBC}); err != nil || len(found) != 1 || found[0].ID != ev.ID {
				t.Errorf("search by the beacon's fbc = %d events, %v; want the joined event", len(found), err)
			}
			// Joined at commit: nothing held.
			if got := nextAttempt(t, s, ev.ID); !got.Equal(t0) {
				t.Errorf("next attempt = %v, want %v (no hold once the beacon is in)", got, t0)
			}
			_, br, err := s.Beacon(ctx, sh.ID, ref)
			if err != nil || br.Outcome != store.BeaconJoined || br.EventID != ev.ID {
				t.Errorf("beacon row = %+v, %v; want joined to %d", br, err, ev.ID)
			}
			// A second beacon for the same order changes nothing.
			if res, _ := s.SaveBeacon(ctx, sh.ID, beacon(), t0); res.Outcome != store.BeaconDuplicate {
				t.Errorf("second beacon = %+v, want duplicate", res)
			}
		})
	}
}

func TestHeldConversionIsReleasedByItsBeacon(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			out, err := s.CommitBatch(ctx, []store.Incoming{withRef(sh.ID, "d1", "5001", 15*time.Second)}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			id := out[0].EventID
			if got := nextAttempt(t, s, id); !got.Equal(t0.Add(15 * time.Second)) {
				t.Fatalf("held next attempt = %v, want received + 15s", got)
			}
			if c, _ := s.Claim(ctx, d.ID, "w", 10, t0.Add(5*time.Second), time.Minute); len(c) != 0 {
				t.Fatalf("claimed %d deliveries inside the hold", len(c))
			}
			// A beacon for another order releases nothing.
			other := beacon()
			other.OrderRef = "ffffffffffffffffffffffffffffffff"
			if res, err := s.SaveBeacon(ctx, sh.ID, other, t0.Add(5*time.Second)); err != nil || res.Released {
				t.Fatalf("unrelated beacon = %+v, %v", res, err)
			}
			res, err := s.SaveBeacon(ctx, sh.ID, beacon(), t0.Add(6*time.Second))
			if err != nil || res.Outcome != store.BeaconJoined || !res.Released || res.EventID != id {
				t.Fatalf("SaveBeacon = %+v, %v; want joined and released", res, err)
			}
			c, err := s.Claim(ctx, d.ID, "w", 10, t0.Add(6*time.Second), time.Minute)
			if err != nil || len(c) != 1 {
				t.Fatalf("claim after the beacon = %d, %v; want 1", len(c), err)
			}
			if c[0].Conversion.UserAgent != "Mozilla/5.0 test" || c[0].Conversion.ClickIDs.FBP == "" {
				t.Errorf("claimed conversion lacks the beacon: %+v", c[0].Conversion)
			}
			if found, err := s.Events(ctx, store.EventFilter{Query: c[0].Conversion.ClickIDs.FBP}); err != nil || len(found) != 1 {
				t.Errorf("search by the late beacon's fbp = %d events, %v; want the held event", len(found), err)
			}
			sh2, err := s.Shop(ctx, sh.ID)
			if err != nil || sh2.ScriptSeenAt.IsZero() {
				t.Errorf("script_seen_at not set: %+v, %v", sh2.ScriptSeenAt, err)
			}
		})
	}
}

func TestBeaconAfterSendingIsNotUsed(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			d := newDest(t, s, sh.ID, "meta", nil)
			out, err := s.CommitBatch(ctx, []store.Incoming{withRef(sh.ID, "d1", "5001", 15*time.Second)}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			// The hold passes; the worker takes the delivery.
			c, err := s.Claim(ctx, d.ID, "w", 10, t0.Add(16*time.Second), time.Minute)
			if err != nil || len(c) != 1 {
				t.Fatalf("claim after the hold = %d, %v", len(c), err)
			}
			res, err := s.SaveBeacon(ctx, sh.ID, beacon(), t0.Add(17*time.Second))
			if err != nil || res.Outcome != store.BeaconTooLate || res.Released {
				t.Fatalf("late beacon = %+v, %v; want too_late", res, err)
			}
			ev, err := s.Event(ctx, out[0].EventID)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Conversion.BeaconJoined || ev.Conversion.UserAgent != "" {
				t.Errorf("conversion changed after its delivery was taken: %+v", ev.Conversion)
			}
		})
	}
}

func TestNoHoldWithoutScriptAndPurge(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sh := newShop(t, s)
			newDest(t, s, sh.ID, "meta", nil)
			out, err := s.CommitBatch(ctx, []store.Incoming{withRef(sh.ID, "d1", "5001", 0)}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if got := nextAttempt(t, s, out[0].EventID); !got.Equal(t0) {
				t.Errorf("next attempt = %v, want %v (no hold)", got, t0)
			}
			other := beacon()
			other.OrderRef = "unclaimed-ref-0000"
			if _, err := s.SaveBeacon(ctx, sh.ID, other, t0); err != nil {
				t.Fatal(err)
			}
			if n, err := s.PurgeBeacons(ctx, t0.Add(23*time.Hour)); err != nil || n != 0 {
				t.Errorf("purge before a day = %d, %v; want 0", n, err)
			}
			if n, err := s.PurgeBeacons(ctx, t0.Add(25*time.Hour)); err != nil || n != 1 {
				t.Errorf("purge after a day = %d, %v; want 1", n, err)
			}
			// An expired beacon is not joined.
			if _, err := s.SaveBeacon(ctx, sh.ID, beacon(), t0.Add(-48*time.Hour)); err != nil {
				t.Fatal(err)
			}
			in := withRef(sh.ID, "d2", "5002", 0)
			out, err = s.CommitBatch(ctx, []store.Incoming{in}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			if ev, _ := s.Event(ctx, out[0].EventID); ev.Conversion.BeaconJoined {
				t.Error("an expired beacon was joined")
			}
		})
	}
}

func TestBeaconOfAnotherShopIsNeverJoined(t *testing.T) {
	for name, s := range storetest.All(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := newShop(t, s), newShop(t, s)
			newDest(t, s, b.ID, "meta", nil)
			// A stranger posts a beacon with b's ref to a's public id.
			if _, err := s.SaveBeacon(ctx, a.ID, beacon(), t0); err != nil {
				t.Fatal(err)
			}
			out, err := s.CommitBatch(ctx, []store.Incoming{withRef(b.ID, "d1", "7001", 15*time.Second)}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := s.Event(ctx, out[0].EventID)
			if err != nil || ev.Conversion.BeaconJoined || ev.Conversion.UserAgent != "" {
				t.Errorf("shop b's conversion took shop a's beacon: %+v, %v", ev.Conversion, err)
			}
			if _, res, _ := s.Beacon(ctx, a.ID, ref); res.EventID != 0 {
				t.Errorf("shop a's beacon claimed by event %d", res.EventID)
			}
		})
	}
}

func TestNoBeaconLookupForShopsWithoutTheScript(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	sh := newShop(t, s)
	newDest(t, s, sh.ID, "meta", nil)
	if _, err := s.SaveBeacon(ctx, sh.ID, beacon(), t0); err != nil {
		t.Fatal(err)
	}
	in := withRef(sh.ID, "d1", "8001", 0)
	in.UsesScript = false
	out, err := s.CommitBatch(ctx, []store.Incoming{in}, routing{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := s.Event(ctx, out[0].EventID); ev.Conversion.BeaconJoined {
		t.Error("a beacon was looked up for a webhook the caller marked as from a shop without the script")
	}
}
