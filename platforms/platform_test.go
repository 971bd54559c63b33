package platforms

import (
	"flag"
	"time"

	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testNow is the fixed clock every platform test runs on.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// testConversions is the shared set of canonical conversions every platform
// renders into its golden payloads. Keys name the golden files.
func testConversions() map[string]mapping.Conversion {
	paidAt := testNow.Add(-2 * time.Hour)
	return map[string]mapping.Conversion{
		// Everything a storefront with the click-id snippet gives us.
		"full": {
			EventID:   "5820393472058",
			EventName: mapping.EventPurchase,
			EventTime: paidAt,
			OrderID:   "5820393472058",
			OrderName: "#1042",
			Value:     decimal.RequireFromString("120.94"),
			Currency:  "USD",
			Items: []mapping.Item{
				{ID: "8012345678901", VariantID: "44012345678901", SKU: "TEE-BLK-M", Title: "Organic Tee", Brand: "Acme", Quantity: 2, Price: decimal.RequireFromString("35.00")},
				{ID: "8012345678902", VariantID: "44012345678902", SKU: "MUG-01", Title: "Mug", Quantity: 1, Price: decimal.RequireFromString("42.00")},
			},
			ClickIDs: mapping.ClickIDs{
				FBCLID: "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgs",
				GCLID:  "Cj0KCQiA5NSdBhDfARIsALzs2EBx2c-test-gclid",
				TTCLID: "E.C.P.v3q1test", RDTCID: "rdt-click-123", MSCLKID: "d52a7a1a0b7c1f2d3e4f5a6b7c8d9e0f",
				LiFatID: "li-fat-abc", EPIK: "dj0yJnU9epik", ScCID: "sc-click-xyz",
				FBP: "fb.1.1763600000000.1234567890", TTP: "ttp-cookie-1", SCID: "scid-cookie-1",
			},
			ClickTime: paidAt.Add(-30 * time.Minute),
			ClientIP:  "203.0.113.42",
			UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/452.0.0.38.109]",
			SourceURL: "https://shop.example.com/products/organic-tee?fbclid=IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgs",
			User: mapping.User{
				Email: "  Jane.Doe+shop@Example.com ", Phone: "(217) 555-0143",
				FirstName: "Jane", LastName: "O'Doe", Street: "123 Main St", City: "Springfield",
				State: "IL", Zip: "62701-1234", Country: "US", ExternalID: "7390123456789",
			},
		},
		// A phone-only checkout abroad, no click id, no browser context.
		"phone_only": {
			EventID:   "purchase-5121",
			EventName: mapping.EventPurchase,
			EventTime: paidAt,
			OrderID:   "5121",
			Value:     decimal.RequireFromString("84.87"),
			Currency:  "EUR",
			Items:     []mapping.Item{{ID: "311", Title: "Kaffeebohnen", Quantity: 3, Price: decimal.RequireFromString("28.29")}},
			User:      mapping.User{Phone: "030 12345678", FirstName: "Jürgen", LastName: "Müller", City: "Berlin", Zip: "10115", Country: "DE"},
		},
		// A zero-decimal currency and an already-hashed email.
		"prehashed_jpy": {
			EventID:   "cs_live_a1b2c3",
			EventName: mapping.EventPurchase,
			EventTime: paidAt,
			OrderID:   "cs_live_a1b2c3",
			Value:     decimal.RequireFromString("12800"),
			Currency:  "JPY",
			ClientIP:  "2001:db8::1",
			UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
			User:      mapping.User{Email: "a3f1d4c2b6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829", Country: "JP"},
		},
	}
}
