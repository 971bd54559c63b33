package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/store"
	"github.com/postbackhq/postback/store/storetest"
)

// replicas opens two store handles on one fresh PostgreSQL schema, as two
// replicas of Postback would; the test is skipped without
// POSTBACK_TEST_POSTGRES.
func replicas(t *testing.T) (a, b *store.Store) {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("POSTBACK_TEST_POSTGRES is not set: the replica race needs PostgreSQL")
	}
	key := storetest.NewKey(t)
	return storetest.OpenKey(t, dsn, key), storetest.OpenKey(t, dsn, key)
}

// race runs f and g at once, g after a random few hundred microseconds,
// so that runs interleave differently.
func race(f, g func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); <-start; f() }()
	go func() {
		defer wg.Done()
		<-start
		time.Sleep(time.Duration(rand.IntN(800)) * time.Microsecond)
		g()
	}()
	close(start)
	wg.Wait()
}

func heldOrder(shopID int64, ref, order string) store.Incoming {
	in := paid(shopID, "d-"+order, order)
	in.Webhook.Conversion.OrderRef = ref
	in.BeaconHold, in.UsesScript = 15*time.Second, true
	return in
}

func refBeacon(ref string) mapping.Beacon {
	b := beacon()
	b.OrderRef = ref
	return b
}

// claimAll claims every due delivery of the destinations at now and
// completes them as delivered, so each is sent once.
func claimAll(t *testing.T, s *store.Store, owner string, now time.Time, dests ...store.Destination) []store.Claimed {
	t.Helper()
	ctx := context.Background()
	var out []store.Claimed
	for _, d := range dests {
		c, err := s.Claim(ctx, d.ID, owner, 10, now, time.Minute)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		complete(t, s, owner, now, c)
		out = append(out, c...)
	}
	return out
}

func complete(t *testing.T, s *store.Store, owner string, now time.Time, cs []store.Claimed) {
	t.Helper()
	var outs []store.Outcome
	for _, c := range cs {
		outs = append(outs, store.Outcome{DeliveryID: c.ID, Attempt: c.Attempts + 1, Status: store.DeliveryDelivered,
			CountAttempt: true, StartedAt: now, StatusCode: 200})
	}
	if len(outs) == 0 {
		return
	}
	if err := s.Complete(context.Background(), owner, outs, now); err != nil {
		t.Fatalf("complete: %v", err)
	}
}

// TestBeaconJoinAcrossReplicas: on PostgreSQL with two replicas, a beacon
// committed on one while the other commits, holds or sends its order's
// conversion is either joined (and then every delivery of the conversion
// carries it) or not used at all (the conversion goes once without it):
// never lost, never half-joined, never sent twice.
func TestBeaconJoinAcrossReplicas(t *testing.T) {
	a, b := replicas(t)
	ctx := context.Background()
	const rounds = 20

	t.Run("beacon while the order is committed", func(t *testing.T) {
		for i := range rounds {
			sh := newShop(t, a)
			meta, tiktok := newDest(t, a, sh.ID, "meta", nil), newDest(t, a, sh.ID, "tiktok", nil)
			ref, order := fmt.Sprintf("race-commit-%032d", i), fmt.Sprint(7000+i)
			var out []store.Committed
			var berr, cerr error
			race(func() { _, berr = a.SaveBeacon(ctx, sh.ID, refBeacon(ref), t0) },
				func() { out, cerr = b.CommitBatch(ctx, []store.Incoming{heldOrder(sh.ID, ref, order)}, routing{}) })
			if berr != nil || cerr != nil {
				t.Fatalf("round %d: beacon %v, commit %v", i, berr, cerr)
			}
			// Whichever came first, the beacon is joined: at commit, at
			// the conflict on its ref, or late while the deliveries wait.
			ev, err := a.Event(ctx, out[0].EventID)
			if err != nil {
				t.Fatal(err)
			}
			_, br, err := b.Beacon(ctx, sh.ID, ref)
			if err != nil || !ev.Conversion.BeaconJoined || br.Outcome != store.BeaconJoined || br.EventID != ev.ID {
				t.Fatalf("round %d: conversion joined %v, beacon row %+v (%v); want joined to event %d", i, ev.Conversion.BeaconJoined, br, err, ev.ID)
			}
			sent := claimAll(t, b, "replica-b", t0.Add(time.Second), meta, tiktok)
			if len(sent) != 2 {
				t.Fatalf("round %d: %d deliveries due a second after the beacon, want 2", i, len(sent))
			}
			for _, c := range sent {
				if c.Conversion.UserAgent != "Mozilla/5.0 test" {
					t.Errorf("round %d: %s sent without the joined beacon: %+v", i, c.Platform, c.Conversion)
				}
			}
			if again := claimAll(t, a, "replica-a", t0.Add(time.Hour), meta, tiktok); len(again) != 0 {
				t.Errorf("round %d: %d deliveries claimed twice", i, len(again))
			}
		}
	})

	t.Run("beacon while another replica releases the held conversion", func(t *testing.T) {
		joined, without := 0, 0
		for i := range rounds {
			sh := newShop(t, a)
			meta, tiktok := newDest(t, a, sh.ID, "meta", nil), newDest(t, a, sh.ID, "tiktok", nil)
			ref, order := fmt.Sprintf("race-release-%031d", i), fmt.Sprint(8000+i)
			out, err := b.CommitBatch(ctx, []store.Incoming{heldOrder(sh.ID, ref, order)}, routing{})
			if err != nil {
				t.Fatal(err)
			}
			// The hold is over: replica B takes Meta's delivery as replica
			// A saves the beacon.
			at := t0.Add(16 * time.Second)
			var res store.BeaconResult
			var claimed []store.Claimed
			var berr, cerr error
			race(func() { res, berr = a.SaveBeacon(ctx, sh.ID, refBeacon(ref), at) },
				func() { claimed, cerr = b.Claim(ctx, meta.ID, "replica-b", 10, at, time.Minute) })
			if berr != nil || cerr != nil {
				t.Fatalf("round %d: beacon %v, claim %v", i, berr, cerr)
			}
			complete(t, b, "replica-b", at, claimed)
			// Then every delivery still due goes, on either replica.
			rest := claimAll(t, a, "replica-a", at.Add(time.Second), meta, tiktok)
			sent := append(claimed, rest...)
			if len(sent) != 2 {
				t.Fatalf("round %d: sent %d deliveries, want each of 2 once", i, len(sent))
			}
			ev, err := a.Event(ctx, out[0].EventID)
			if err != nil {
				t.Fatal(err)
			}
			_, br, err := b.Beacon(ctx, sh.ID, ref)
			if err != nil {
				t.Fatal(err)
			}
			isJoined := res.Outcome == store.BeaconJoined
			if isJoined != (br.Outcome == store.BeaconJoined) || isJoined != ev.Conversion.BeaconJoined ||
				(!isJoined && res.Outcome != store.BeaconTooLate) {
				t.Fatalf("round %d: beacon answered %+v, row %+v, event joined %v: they disagree", i, res, br, ev.Conversion.BeaconJoined)
			}
			for _, c := range sent {
				if c.Conversion.BeaconJoined != isJoined || (c.Conversion.UserAgent != "") != isJoined {
					t.Errorf("round %d: %s sent with beacon %v, but the beacon was joined: %v", i, c.Platform, c.Conversion.BeaconJoined, isJoined)
				}
			}
			if isJoined {
				joined++
			} else {
				without++
			}
		}
		t.Logf("%d rounds joined, %d sent without the beacon", joined, without)
	})

	t.Run("two beacons for one held order on two replicas", func(t *testing.T) {
		for i := range rounds {
			sh := newShop(t, a)
			meta := newDest(t, a, sh.ID, "meta", nil)
			ref, order := fmt.Sprintf("race-twice-%033d", i), fmt.Sprint(9000+i)
			if _, err := a.CommitBatch(ctx, []store.Incoming{heldOrder(sh.ID, ref, order)}, routing{}); err != nil {
				t.Fatal(err)
			}
			second := refBeacon(ref)
			second.UserAgent = "Mozilla/5.0 second"
			var ra, rb store.BeaconResult
			var ea, eb error
			race(func() { ra, ea = a.SaveBeacon(ctx, sh.ID, refBeacon(ref), t0.Add(time.Second)) },
				func() { rb, eb = b.SaveBeacon(ctx, sh.ID, second, t0.Add(time.Second)) })
			if ea != nil || eb != nil {
				t.Fatalf("round %d: %v, %v", i, ea, eb)
			}
			outcomes := map[string]int{ra.Outcome: 1}
			outcomes[rb.Outcome]++
			if outcomes[store.BeaconJoined] != 1 || outcomes[store.BeaconDuplicate] != 1 {
				t.Fatalf("round %d: outcomes %q and %q; want one joined, one duplicate", i, ra.Outcome, rb.Outcome)
			}
			sent := claimAll(t, b, "replica-b", t0.Add(2*time.Second), meta)
			if len(sent) != 1 {
				t.Fatalf("round %d: %d deliveries, want 1", i, len(sent))
			}
			want := "Mozilla/5.0 test"
			if rb.Outcome == store.BeaconJoined {
				want = "Mozilla/5.0 second"
			}
			if got := sent[0].Conversion.UserAgent; got != want {
				t.Errorf("round %d: sent user agent %q, want the joined beacon's %q", i, got, want)
			}
		}
	})
}
