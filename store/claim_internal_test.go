package store

import (
	"encoding/json"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

// TestClaimedConversionDecodesAsEncodingJSON checks that a stored
// conversion (written by encoding/json) reads back the same through the
// json/v2 engine the claim uses as through encoding/json, every field set
// and every field empty, and that both refuse the same broken text.
func TestClaimedConversionDecodesAsEncodingJSON(t *testing.T) {
	yes, no := true, false
	full := mapping.Conversion{
		EventID: "purchase-1042", EventName: mapping.EventPurchase, EventTime: time.Date(2026, 11, 20, 12, 0, 0, 123456789, time.UTC),
		OrderID: "1042", OrderName: "#1042", Value: decimal.RequireFromString("120.940"), Currency: "USD",
		Items: []mapping.Item{{ID: "p1", VariantID: "v1", SKU: "S-1", Title: "Tee <b>&</b> \u2028", Brand: "B", Quantity: 2, Price: decimal.RequireFromString("9.99")}},
		ClickIDs: mapping.ClickIDs{FBCLID: "fb", GCLID: "g", GBRAID: "gb", WBRAID: "wb", TTCLID: "tt", RDTCID: "r", MSCLKID: "ms",
			LiFatID: "li", EPIK: "e", ScCID: "sc", FBP: "fb.1.2.3", FBC: "fb.1.2.fb", TTP: "ttp", SCID: "scid", RDTUUID: "uuid"},
		ClickTime: time.Date(2026, 11, 19, 8, 0, 0, 0, time.FixedZone("x", 3600)), ClientIP: "203.0.113.1", UserAgent: "Mozilla/5.0",
		SourceURL: "https://shop.example/thanks?a=1&b=2", Channel: mapping.ChannelWebsite,
		User: mapping.User{Email: "Ava@Example.com", Phone: "+14155550100", PhoneUnparsed: "x", FirstName: "Äva", LastName: "O'Neil",
			Street: "1 Main", City: "Chicago", State: "IL", Zip: "60601", Country: "US", ExternalID: "c1", Gender: "f", BirthDate: "1990-01-02"},
		OrderRef: "tok", BeaconJoined: true, Consent: &mapping.Consent{AdUserData: &yes, AdPersonalization: &no}, Test: true,
	}
	tests := map[string]string{"empty": "{}", "null fields": `{"value":"1","items":null,"consent":null,"user":{}}`}
	for name, c := range map[string]mapping.Conversion{"full": full, "zero": {}} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		tests[name] = string(b)
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			var want, got mapping.Conversion
			werr := json.Unmarshal([]byte(text), &want)
			gerr := jsonv1.Unmarshal([]byte(text), &got)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("encoding/json error %v, json/v2 engine error %v", werr, gerr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded differently (-encoding/json +v2 engine):\n%s", diff)
			}
		})
	}
	for _, broken := range []string{`{"event_id":`, `{"value":"x"}`, `[]`, `{"event_time":"yesterday"}`} {
		var a, b mapping.Conversion
		if (json.Unmarshal([]byte(broken), &a) == nil) != (jsonv1.Unmarshal([]byte(broken), &b) == nil) {
			t.Errorf("%s: the engines disagree on whether it decodes", broken)
		}
	}
}

func TestPadIDs(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{0, 0}, {1, 8}, {8, 8}, {9, 64}, {300, 1024}, {1024, 1024}, {1025, 2048}, {3000, 3072}} {
		ids := make([]int64, tt.n)
		for i := range ids {
			ids[i] = int64(i + 1)
		}
		got := padIDs(ids)
		if len(got) != tt.want {
			t.Errorf("padIDs(%d ids) has %d, want %d", tt.n, len(got), tt.want)
			continue
		}
		for i, id := range got {
			if (i < tt.n && id != int64(i+1)) || (i >= tt.n && id != int64(tt.n)) {
				t.Errorf("padIDs(%d ids)[%d] = %d", tt.n, i, id)
				break
			}
		}
	}
}
