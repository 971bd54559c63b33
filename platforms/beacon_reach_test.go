package platforms

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// TestBeaconIDsReachTheirPlatforms: every click id and cookie the
// storefront script (or the Shopify custom pixel) puts in a beacon, once
// joined to a conversion, reaches the field of the platform that takes it.
func TestBeaconIDsReachTheirPlatforms(t *testing.T) {
	seen := testNow.Add(-2 * time.Hour).Unix()
	cfg := Config{Now: func() time.Time { return testNow }}
	tests := []struct {
		name   string
		beacon mapping.Beacon
		sender renderer
		dest   Destination
		// want is one JSON object of the request that must hold these
		// pairs.
		want map[string]any
	}{
		{"_fbp to Meta fbp", mapping.Beacon{FBP: "fb.1.1763600000000.4242"}, NewMeta(cfg), metaDestination(nil),
			map[string]any{"fbp": "fb.1.1763600000000.4242"}},
		{"fbclid to Meta fbc with the click time", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"fbclid": {Value: "IwAR-reach", SeenAt: seen}}},
			NewMeta(cfg), metaDestination(nil), map[string]any{"fbc": mapping.FBC("IwAR-reach", time.Unix(seen, 0))}},
		{"user agent and IP to Meta", mapping.Beacon{UserAgent: "Mozilla/5.0 reach", ClientIP: "198.51.100.7"}, NewMeta(cfg), metaDestination(nil),
			map[string]any{"client_user_agent": "Mozilla/5.0 reach", "client_ip_address": "198.51.100.7"}},
		{"ttclid to TikTok", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"ttclid": {Value: "E.C.P.reach"}}}, NewTikTok(cfg), tiktokTestDest(nil),
			map[string]any{"ttclid": "E.C.P.reach"}},
		{"_ttp to TikTok ttp", mapping.Beacon{TTP: "ttp-reach-1"}, NewTikTok(cfg), tiktokTestDest(nil),
			map[string]any{"ttp": "ttp-reach-1"}},
		{"gclid to Google", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"gclid": {Value: "Cj0-reach"}}}, NewGoogleAds(cfg, ""), googleTestDestination(),
			map[string]any{"gclid": "Cj0-reach"}},
		{"_scid to Snapchat sc_cookie1", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"scid": {Value: "scid-reach"}}}, NewSnapchat(cfg), snapchatTestDest(nil),
			map[string]any{"sc_cookie1": "scid-reach"}},
		{"ScCid to Snapchat sc_click_id", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"sccid": {Value: "sccid-reach"}}}, NewSnapchat(cfg), snapchatTestDest(nil),
			map[string]any{"sc_click_id": "sccid-reach"}},
		{"epik to Pinterest click_id", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"epik": {Value: "dj0yJnU9reach"}}}, NewPinterest(cfg), pinterestTestDestination(),
			map[string]any{"click_id": "dj0yJnU9reach"}},
		{"rdt_cid to Reddit click_id", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"rdt_cid": {Value: "rdt-cid-reach"}}}, NewReddit(cfg), redditTestDest(true, nil),
			map[string]any{"click_id": "rdt-cid-reach"}},
		{"_rdt_uuid to Reddit user.uuid (v3)", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"rdt_uuid": {Value: "1764000000000.ffe44bd4-a4f8-49ad"}}}, NewReddit(cfg), redditTestDest(true, nil),
			map[string]any{"uuid": "1764000000000.ffe44bd4-a4f8-49ad"}},
		{"_rdt_uuid to Reddit user.uuid (v2.0)", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"rdt_uuid": {Value: "1764000000000.ffe44bd4-a4f8-49ad"}}}, NewReddit(cfg), redditTestDest(false, nil),
			map[string]any{"uuid": "1764000000000.ffe44bd4-a4f8-49ad"}},
		{"msclkid to Microsoft", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"msclkid": {Value: "0123456789abcdef0123456789abcdef"}}}, NewMicrosoft(cfg), microsoftTestDestination(),
			map[string]any{"msclkid": "0123456789abcdef0123456789abcdef"}},
		{"li_fat_id to LinkedIn", mapping.Beacon{ClickIDs: map[string]mapping.BeaconClick{"li_fat_id": {Value: "li-fat-reach"}}}, NewLinkedIn(cfg, ""), linkedinTestDestination(),
			map[string]any{"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "li-fat-reach"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConversions()["full"]
			c.EventTime = testNow.Add(-time.Hour)
			c.ClickIDs, c.UserAgent, c.ClientIP, c.Channel = mapping.ClickIDs{}, "", "", mapping.ChannelWebsite
			tc.beacon.OrderRef = "reach-order-ref-0001"
			if !tc.beacon.Clean(testNow) {
				t.Fatal("beacon refused")
			}
			if len(tc.beacon.Dropped) > 0 {
				t.Fatalf("beacon dropped %v", tc.beacon.Dropped)
			}
			c.AddBeacon(tc.beacon)
			req, err := tc.sender.Render(tc.dest, []mapping.Conversion{c})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var body any
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatal(err)
			}
			if !holds(body, tc.want) {
				t.Errorf("request has no object with %v:\n%s", tc.want, req.Body)
			}
		})
	}
}

// renderer is what the test needs of a sender.
type renderer interface {
	Render(d Destination, convs []mapping.Conversion) (Request, error)
}

// holds reports whether some object in v has every pair of want.
func holds(v any, want map[string]any) bool {
	switch x := v.(type) {
	case map[string]any:
		all := true
		for k, w := range want {
			if x[k] != w {
				all = false
				break
			}
		}
		if all {
			return true
		}
		for _, e := range x {
			if holds(e, want) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holds(e, want) {
				return true
			}
		}
	}
	return false
}
