package platforms

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/postbackhq/postback/mapping"
)

// The batch helpers carry the order in which the senders decide a
// conversion's fate; these tests pin it once for all of them.

// helperEvent encodes like a platform's event; a bad Value cannot be
// encoded.
type helperEvent struct {
	ID    string      `json:"id"`
	Value json.Number `json:"value"`
}

// helperBuild refuses conversions without an order id and gives every
// conversion a match, as the senders' builders do. The order name stands in
// for the value, so that a test can build an event that cannot be encoded.
func helperBuild(c mapping.Conversion) (helperEvent, mapping.Match, error) {
	m := mapping.Match{Email: true}
	if c.OrderID == "" {
		return helperEvent{}, m, Invalid(0, "no_order", "no order id")
	}
	return helperEvent{ID: c.EventID, Value: json.Number(c.OrderName)}, m, nil
}

// helperConv is a conversion age old, with value as its order name.
func helperConv(id, order, value string, age time.Duration) mapping.Conversion {
	return mapping.Conversion{EventID: id, OrderID: order, OrderName: value, EventTime: testNow.Add(-age)}
}

func TestPrepare(t *testing.T) {
	const maxAge = 7 * 24 * time.Hour
	old := maxAge + time.Hour
	tests := []struct {
		name      string
		conv      mapping.Conversion
		wantCode  string // "" for ready
		wantMatch bool
	}{
		{"ready", helperConv("a", "1", "10", time.Hour), "", true},
		{"refused by build", helperConv("b", "", "10", time.Hour), "no_order", true},
		{"too old wins over build", helperConv("c", "", "10", old), "event_too_old", true},
		{"too old though buildable", helperConv("d", "4", "10", old), "event_too_old", true},
		{"cannot encode", helperConv("e", "5", "not a number", time.Hour), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, ready, events := prepare([]mapping.Conversion{tt.conv}, testNow, maxAge, "Test", helperBuild)
			r := results[0]
			if got := r.Match.Email; got != tt.wantMatch {
				t.Errorf("Match.Email = %v, want %v", got, tt.wantMatch)
			}
			if tt.name == "cannot encode" {
				if !errors.Is(r.Err, ErrInvalid) || len(ready) != 0 || r.Payload != nil {
					t.Errorf("conversion %+v: err %v ready %v payload %s, want ErrInvalid, not ready, no payload", tt.conv, r.Err, ready, r.Payload)
				}
				return
			}
			if got := errCode(r.Err); got != tt.wantCode {
				t.Errorf("conversion %+v: error %v (code %q), want code %q", tt.conv, r.Err, got, tt.wantCode)
			}
			if tt.wantCode != "" {
				if len(ready) != 0 || len(events) != 0 || r.Payload != nil {
					t.Errorf("failed conversion: ready %v, %d events, payload %s; want none", ready, len(events), r.Payload)
				}
				return
			}
			want := `{"id":"a","value":10}`
			if len(ready) != 1 || ready[0] != 0 || string(events[0]) != want || string(r.Payload) != want {
				t.Errorf("ready %v events %s payload %s, want [0] and %s", ready, events, r.Payload, want)
			}
		})
	}
}

func TestPrepareKeepsOrder(t *testing.T) {
	convs := []mapping.Conversion{
		helperConv("a", "1", "1", time.Hour),
		helperConv("b", "", "2", time.Hour),
		helperConv("c", "3", "3", time.Hour),
	}
	results, ready, events := prepare(convs, testNow, 24*time.Hour, "Test", helperBuild)
	if len(results) != 3 || !cmp.Equal(ready, []int{0, 2}) || len(events) != 2 {
		t.Fatalf("%d results, ready %v, %d events; want 3, [0 2], 2", len(results), ready, len(events))
	}
	for k, i := range ready {
		if string(events[k]) != string(results[i].Payload) {
			t.Errorf("event %d = %s, want the payload of conversion %d, %s", k, events[k], i, results[i].Payload)
		}
	}
}

func TestSpreadAndAsError(t *testing.T) {
	results := make([]Result, 3)
	spread(results, []int{0, 2}, 429, "slow down", asError(Throttled(429, "", "slow down", time.Second)))
	if !errors.Is(results[0].Err, ErrThrottled) || results[2].StatusCode != 429 || results[2].Response != "slow down" {
		t.Errorf("spread results %+v, want 0 and 2 throttled with the answer", results)
	}
	if !cmp.Equal(results[1], Result{}) {
		t.Errorf("spread touched result 1: %+v", results[1])
	}
	var none *Error
	if err := asError(none); err != nil {
		t.Errorf("asError(nil *Error) = %#v, want a nil error", err)
	}
}

// TestWithEventsIsJSONMarshal pins withEvents to what json.Marshal writes
// for the same object with the events as its first field.
func TestWithEventsIsJSONMarshal(t *testing.T) {
	type rest struct {
		Token string `json:"access_token"`
		Code  string `json:"test_event_code,omitempty"`
	}
	type whole struct {
		Data  []json.RawMessage `json:"data"`
		Token string            `json:"access_token"`
		Code  string            `json:"test_event_code,omitempty"`
	}
	enc := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		events []json.RawMessage
		token  string
		code   string
	}{
		{"one event", []json.RawMessage{enc(map[string]any{"event_name": "Purchase", "n": 1})}, "tok", ""},
		{"escapes kept", []json.RawMessage{enc(map[string]string{"u": "https://x.example/?a=1&b=<2>"}), enc("é\u2028")}, "t&<>", "TEST1"},
		{"nil event", []json.RawMessage{nil, enc(1)}, "tok", ""},
		{"no events", []json.RawMessage{}, "tok", "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withEvents("data", tt.events, rest{Token: tt.token, Code: tt.code})
			if err != nil {
				t.Fatal(err)
			}
			want := enc(whole{Data: tt.events, Token: tt.token, Code: tt.code})
			if string(got) != string(want) {
				t.Errorf("withEvents = %s\nwant         %s", got, want)
			}
		})
	}
	type empty struct{}
	got, err := withEvents("events", []json.RawMessage{enc(1)}, empty{})
	if err != nil || string(got) != `{"events":[1]}` {
		t.Errorf("withEvents with an empty rest = %s, %v", got, err)
	}
	if _, err := withEvents("data", nil, []int{1}); err == nil {
		t.Error("withEvents accepted a rest that is not an object")
	}
}
