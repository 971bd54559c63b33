package platforms

import (
	"encoding/json"
	"errors"
	"strings"
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

func TestPrepareRecent(t *testing.T) {
	const maxAge = 7 * 24 * time.Hour
	var rendered []string
	render := func(c mapping.Conversion, now time.Time) (json.RawMessage, mapping.Match, error) {
		if !now.Equal(testNow) {
			t.Errorf("render got now %v, want %v", now, testNow)
		}
		rendered = append(rendered, c.EventID)
		return json.RawMessage(`{"id":"` + c.EventID + `"}`), mapping.Match{Email: true}, nil
	}
	convs := []mapping.Conversion{helperConv("fresh", "1", "1", time.Hour), helperConv("old", "2", "2", maxAge+time.Hour)}
	results, ready, events := prepareRecent(convs, testNow, maxAge, "Test", render)
	if !cmp.Equal(rendered, []string{"fresh"}) {
		t.Errorf("rendered %v, want only the fresh conversion", rendered)
	}
	if !cmp.Equal(ready, []int{0}) || string(events[0]) != `{"id":"fresh"}` || string(results[0].Payload) != `{"id":"fresh"}` {
		t.Errorf("ready %v events %s payload %s, want the fresh event as rendered", ready, events, results[0].Payload)
	}
	old := results[1]
	if errCode(old.Err) != "event_too_old" || !cmp.Equal(old.Match, mapping.Match{}) || old.Payload != nil {
		t.Errorf("old conversion: error %v match %+v payload %s; want event_too_old, no match, no payload", old.Err, old.Match, old.Payload)
	}
}

func TestRenderReady(t *testing.T) {
	body := func(events []json.RawMessage) ([]byte, error) {
		return json.Marshal(map[string][]json.RawMessage{"data": events})
	}
	refused := Invalid(0, "first", "first failure")
	tests := []struct {
		name     string
		results  []Result
		events   []json.RawMessage
		wantErr  string
		wantBody string
	}{
		{"empty batch", nil, nil, "test: no conversions to send", ""},
		{"none ready", []Result{{}, {Err: refused}, {Err: Invalid(0, "second", "x")}}, nil, refused.Error(), ""},
		{"ready", []Result{{Err: refused}, {}}, []json.RawMessage{json.RawMessage(`{"id":"b"}`)}, "", `{"data":[{"id":"b"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := renderReady("test", "https://example.test/events", map[string]string{"X": "1"}, tt.results, tt.events, body)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("renderReady(%+v) error %v, want %q", tt.results, err, tt.wantErr)
				}
				return
			}
			if err != nil || req.Method != "POST" || req.URL != "https://example.test/events" || req.Header["X"] != "1" || string(req.Body) != tt.wantBody {
				t.Errorf("renderReady = %+v, %v; want POST https://example.test/events with body %s", req, err, tt.wantBody)
			}
		})
	}
}

func TestRenderBatch(t *testing.T) {
	noEndpoint := func() (string, error) { return "", Auth(0, "missing_credential", "tag is not set") }
	endpoint := func() (string, error) { return "https://example.test/events", nil }
	body := func(events []json.RawMessage) ([]byte, error) { return json.Marshal(events) }
	tests := []struct {
		name     string
		convs    []mapping.Conversion
		endpoint func() (string, error)
		wantErr  string // a part of the error; "" for success
		wantIs   error
	}{
		{"empty batch before the endpoint", nil, noEndpoint, "test: no conversions to render", nil},
		{"over the limit before the endpoint", []mapping.Conversion{helperConv("a", "1", "1", 0), helperConv("b", "2", "2", 0), helperConv("c", "3", "3", 0)},
			noEndpoint, "test: 3 conversions exceed the batch limit of 2", nil},
		{"endpoint before the conversions", []mapping.Conversion{helperConv("a", "", "1", 0)}, noEndpoint, "test: ", ErrAuth},
		{"a refused conversion is named", []mapping.Conversion{helperConv("a", "1", "1", 0), helperConv("b", "", "2", 0)}, endpoint, "test: conversion b: ", ErrInvalid},
		{"an unencodable conversion is named", []mapping.Conversion{helperConv("a", "1", "x", 0)}, endpoint, "test: encode conversion a: ", nil},
		{"rendered", []mapping.Conversion{helperConv("a", "1", "1", 0), helperConv("b", "2", "2", 0)}, endpoint, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := renderBatch("test", 2, tt.convs, tt.endpoint, helperBuild, body, map[string]string{"Authorization": "Bearer REDACTED"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
					t.Errorf("renderBatch(%d conversions) error %v, want one containing %q (matching %v)", len(tt.convs), err, tt.wantErr, tt.wantIs)
				}
				return
			}
			want := `[{"id":"a","value":1},{"id":"b","value":2}]`
			if err != nil || req.URL != "https://example.test/events" || string(req.Body) != want || req.Header["Authorization"] != "Bearer REDACTED" {
				t.Errorf("renderBatch = %+v, %v; want POST https://example.test/events with body %s", req, err, want)
			}
		})
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
