// Package stripetest is a fake of the part of Stripe's API that
// reconciliation lists (Checkout Sessions, invoices, PaymentIntents), for
// tests that point stripe-go at it (POSTBACK_STRIPE_URL). It checks each
// request as Stripe would (the key, the created range, the status filter,
// limit ≤ 100) and pages with starting_after, newest first, as Stripe does.
//
// Modelled 2026-12-03 on stripe-go v79.12.0's source: the list envelope
// (object, url, has_more, data) and the iterator's starting_after paging
// (iter.go, list.go), and the filters its list params send
// (CheckoutSessionListParams and InvoiceListParams have status,
// PaymentIntentListParams has none).
package stripetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
)

// API serves lists of objects. Set its fields before the first request.
type API struct {
	// Key is the only secret key accepted.
	Key string
	// PageSize is how many objects a page holds at most (default 2, to
	// exercise pagination).
	PageSize int
	// Status, when not zero, answers every request with this HTTP status
	// and a Stripe error body.
	Status int

	mu      sync.Mutex
	objects map[string][]map[string]any
	calls   []string
}

// Paths of the lists.
const (
	Sessions       = "/v1/checkout/sessions"
	Invoices       = "/v1/invoices"
	PaymentIntents = "/v1/payment_intents"
)

// Add adds objects (each with id, created and status) to the list at path.
func (a *API) Add(path string, objs ...map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.objects == nil {
		a.objects = map[string][]map[string]any{}
	}
	a.objects[path] = append(a.objects[path], objs...)
}

// Calls lists the requests served, as "path?starting_after".
func (a *API) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

func stripeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

// ServeHTTP answers GET list requests.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := r.URL.Query()
	a.calls = append(a.calls, r.URL.Path+"?"+q.Get("starting_after"))
	switch {
	case a.Status != 0:
		stripeError(w, a.Status, "api_error", "fake failure")
		return
	case r.Header.Get("Authorization") != "Bearer "+a.Key:
		stripeError(w, http.StatusUnauthorized, "invalid_request_error", "Invalid API Key provided")
		return
	case r.Method != http.MethodGet:
		stripeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "GET only")
		return
	}
	wantStatus := map[string]string{Sessions: "complete", Invoices: "paid", PaymentIntents: ""}
	want, ok := wantStatus[r.URL.Path]
	if !ok {
		stripeError(w, http.StatusNotFound, "invalid_request_error", "Unrecognized request URL")
		return
	}
	if q.Get("status") != want {
		stripeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf("status %q, want %q", q.Get("status"), want))
		return
	}
	gte, err1 := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
	lt, err2 := strconv.ParseInt(q.Get("created[lt]"), 10, 64)
	limit, err3 := strconv.Atoi(q.Get("limit"))
	if err1 != nil || err2 != nil || err3 != nil || limit < 1 || limit > 100 {
		stripeError(w, http.StatusBadRequest, "invalid_request_error", "created[gte], created[lt] and limit 1-100 are expected: "+r.URL.RawQuery)
		return
	}
	size := a.PageSize
	if size <= 0 {
		size = 2
	}
	size = min(size, limit)
	var match []map[string]any
	for _, o := range a.objects[r.URL.Path] {
		c := created(o)
		if c >= gte && c < lt && (want == "" || o["status"] == want) {
			match = append(match, o)
		}
	}
	sort.SliceStable(match, func(i, j int) bool { return created(match[i]) > created(match[j]) })
	start := 0
	if after := q.Get("starting_after"); after != "" {
		start = -1
		for i, o := range match {
			if o["id"] == after {
				start = i + 1
			}
		}
		if start < 0 {
			stripeError(w, http.StatusBadRequest, "invalid_request_error", "No such object: "+after)
			return
		}
	}
	end := min(start+size, len(match))
	data := make([]any, 0, end-start)
	for _, o := range match[start:end] {
		data = append(data, o)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": r.URL.Path, "has_more": end < len(match), "data": data})
}

func created(o map[string]any) int64 {
	switch v := o["created"].(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

// Objects returns the list at path (the maps themselves, to change).
func (a *API) Objects(path string) []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.objects[path]
}
