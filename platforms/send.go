package platforms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// The one send path. A platform's file describes itself with a spec (how
// one conversion becomes its event, the request that carries events, how
// its answer reads) and deliver applies the same rules to every platform:
//
//   - Conversions the platform would refuse (past its window, or refused by
//     build) fail without being sent.
//   - Events go in requests of at most batchSize.
//   - A request refused as a whole because of invalid events is split
//     (halves, then single events) until each bad event stands alone: the
//     good ones are delivered and each bad one carries the platform's reason.
//   - Events the platform answered for one by one keep their own verdict;
//     an event it accepted is never sent again. Events it says it left
//     unprocessed because of others (verdict.resend) go again without the
//     bad ones.
//   - A throttled request, refused credentials (for the request or for
//     one of its events) or no answer stops the destination for this batch: the parts not yet sent get the same
//     failure unsent, so the delivery loop waits the whole destination
//     (Retry-After honoured) or parks it.
//   - A dry run (render) runs this same path through a transport that
//     records the request instead of sending it, so what it shows is the
//     bytes the send path posts, secrets redacted.

// spec is what one platform tells the send path about itself.
type spec struct {
	// name is the platform's key ("tiktok"), used in messages.
	name string
	// title is the platform as merchants write it ("TikTok").
	title     string
	batchSize int
	// maxAge is the platform's acceptance window (0: none).
	maxAge time.Duration
	// check validates the destination; its error fails every conversion
	// unsent. nil means nothing to check beyond what request does.
	check func(d Destination) error
	// build turns one conversion into the platform's event (JSON) and says
	// which identifiers it carries. now is the send time.
	build func(c mapping.Conversion, now time.Time) (json.RawMessage, mapping.Match, error)
	// request builds the request that carries events to d.
	request func(ctx context.Context, d Destination, events []json.RawMessage) (outgoing, error)
	// renew, for platforms with OAuth refresh, replaces an access token the
	// platform just refused (HTTP 401) and reports whether it did; the
	// request is then built and sent once more. A refresh that fails (a
	// revoked refresh token) fails the request with its own reason.
	renew func(ctx context.Context, d Destination, stale string) (bool, error)
	// read classifies the platform's answer to a request of events.
	read func(a answer, events []json.RawMessage, now time.Time) verdict
	// singles makes a rejected batch split straight into single events
	// rather than halves (platforms that say nothing about which event was
	// at fault and whose batches are small).
	singles bool
}

// outgoing is one request as the platform wants it.
type outgoing struct {
	url    string
	header map[string]string
	body   []byte
	// token is the OAuth access token the request carries, if any.
	token string
}

// verdict is what an answer means: a failure of the whole request, or one
// outcome per event (in request order).
type verdict struct {
	// whole fails every event of the request; nil when the request was
	// accepted (each event then takes events[k], when set).
	whole *Error
	// events holds each event's failure, nil for an accepted one; nil
	// slice means every event shares whole.
	events []*Error
	// resend marks events the platform did not process because others were
	// bad: they are sent again without the bad ones.
	resend []bool
	// notes is what the platform reported about each event (warnings,
	// partial acceptance); a single note applies to every event.
	notes []string
	// responses is each event's own part of the answer, when the platform
	// answers per event; otherwise every event keeps the whole body.
	responses []string
}

// codeUnprocessed marks an event the platform left unprocessed because
// other events of its request were bad (see unprocessed).
const codeUnprocessed = "unprocessed_because_of_others"

// unprocessed is the outcome of an event a platform refused only because
// others in its request were bad: the send path sends it again at once
// without them.
func unprocessed(status int, msg string) *Error {
	return Transient(status, codeUnprocessed, msg)
}

// verdictOf turns per-event outcomes into a verdict: one failure shared by
// every event (the same error value) is a failure of the whole request;
// events left unprocessed because of others are sent again without the
// rest. Other per-event failures stand (a transient one waits for the
// delivery loop's retry).
func verdictOf(name string, errs []error, notes, responses []string) verdict {
	if len(errs) > 0 && errs[0] != nil {
		shared := true
		for _, e := range errs {
			shared = shared && e == errs[0]
		}
		if shared {
			return verdict{whole: classified(errs[0], name)}
		}
	}
	v := verdict{events: make([]*Error, len(errs)), resend: make([]bool, len(errs)), notes: notes, responses: responses}
	for k, e := range errs {
		if e == nil {
			continue
		}
		ce := classified(e, name)
		v.resend[k] = ce.Code == codeUnprocessed
		v.events[k] = ce
	}
	return v
}

func (v verdict) note(k int) string {
	switch {
	case len(v.notes) == 1:
		return v.notes[0]
	case k < len(v.notes):
		return v.notes[k]
	}
	return ""
}

// sendRun is one Send of one batch: where results go, and the failure
// that stopped the destination, if any.
type sendRun struct {
	sp      spec
	client  *http.Client
	d       Destination
	now     time.Time
	secrets []string
	out     []Result
	stop    *Error
}

// deliver sends convs to d under sp and returns one Result per conversion.
func deliver(ctx context.Context, cfg Config, sp spec, d Destination, convs []mapping.Conversion, fields []Field) []Result {
	now := cfg.now()
	if sp.check != nil {
		if err := sp.check(d); err != nil {
			return failAll(len(convs), err)
		}
	}
	build := func(c mapping.Conversion) (json.RawMessage, mapping.Match, error) {
		if tooOld(c, sp.maxAge, now) {
			return nil, mapping.Match{}, nil // prepare fails it for its age
		}
		ev, m, err := sp.build(c, now)
		if err == nil {
			m = advise(sp.name, sp.title, m, c)
		}
		return ev, m, err
	}
	results, ready, events := prepare(convs, now, sp.maxAge, sp.title, build)
	sendBuilt(ctx, cfg, sp, d, fields, results, ready, events)
	return results
}

// sendBuilt sends events already built (those of the results at ready) in
// batches of sp.batchSize and fills results. For sends whose items are
// not conversions (Google's refund adjustments).
func sendBuilt(ctx context.Context, cfg Config, sp spec, d Destination, fields []Field, results []Result, ready []int, events []json.RawMessage) {
	r := &sendRun{sp: sp, client: cfg.Client, d: d, now: cfg.now(), secrets: secretValues(d, fields), out: results}
	for start := 0; start < len(ready); start += sp.batchSize {
		end := min(start+sp.batchSize, len(ready))
		r.send(ctx, ready[start:end], events[start:end])
	}
}

// send posts the events of the conversions at idx, or, once the
// destination is stopped, gives them the stopping failure unsent.
func (r *sendRun) send(ctx context.Context, idx []int, events []json.RawMessage) {
	if r.stop != nil {
		spread(r.out, idx, 0, "", r.stop)
		return
	}
	req, err := r.sp.request(ctx, r.d, events)
	if err != nil {
		e := classified(err, r.sp.name)
		r.halt(e)
		spread(r.out, idx, 0, "", e)
		return
	}
	a, perr := post(ctx, r.client, req.url, req.header, req.body)
	if perr == nil && a.Status == http.StatusUnauthorized && r.sp.renew != nil {
		renewed, err := r.sp.renew(ctx, r.d, req.token)
		if err == nil && renewed {
			req, err = r.sp.request(ctx, r.d, events)
		}
		if err != nil {
			e := classified(err, r.sp.name)
			r.halt(e)
			spread(r.out, idx, 0, "", e)
			return
		}
		if renewed {
			a, perr = post(ctx, r.client, req.url, req.header, req.body)
		}
	}
	var v verdict
	if perr != nil {
		v.whole = classified(perr, r.sp.name)
	} else {
		v = r.sp.read(a, events, r.now)
	}
	response := r.redact(string(a.Body))
	switch {
	case v.whole != nil && v.events == nil:
		if v.whole.Class == ErrInvalid && len(idx) > 1 {
			r.split(ctx, idx, events)
			return
		}
		r.halt(v.whole)
		spread(r.out, idx, a.Status, response, v.whole)
	default:
		r.perEvent(ctx, idx, events, a.Status, response, v)
	}
}

// perEvent records a verdict that speaks per event, and sends again the
// events the platform left unprocessed because of others.
func (r *sendRun) perEvent(ctx context.Context, idx []int, events []json.RawMessage, status int, response string, v verdict) {
	var again []int
	var againEvents []json.RawMessage
	for k, i := range idx {
		if k < len(v.resend) && v.resend[k] {
			again = append(again, i)
			againEvents = append(againEvents, events[k])
			continue
		}
		var failure *Error
		if k < len(v.events) {
			failure = v.events[k]
		}
		if failure == nil && v.whole != nil && v.events == nil {
			failure = v.whole
		}
		if failure != nil && (failure.Class == ErrAuth || failure.Class == ErrThrottled) {
			// Refused credentials or a rate limit reported on one event
			// hold for the destination.
			r.halt(failure)
		}
		res := &r.out[i]
		res.StatusCode, res.Response, res.Err = status, response, asError(failure)
		if k < len(v.responses) && v.responses[k] != "" {
			res.Response = r.redact(v.responses[k])
		}
		if note := v.note(k); note != "" {
			res.Match.Reported = note
		}
	}
	if len(again) > 0 && len(again) < len(idx) {
		r.send(ctx, again, againEvents)
	} else if len(again) > 0 {
		// Nothing was singled out: resending the same request now would get
		// the same answer, so they wait for the delivery loop's retry.
		for k, i := range idx {
			if k < len(v.resend) && v.resend[k] {
				r.out[i].StatusCode, r.out[i].Response, r.out[i].Err = status, response, asError(v.events[k])
			}
		}
	}
}

// encoded is a built event as JSON, for a spec's build.
func encoded[E any](ev E, m mapping.Match, err error) (json.RawMessage, mapping.Match, error) {
	if err != nil {
		return nil, m, err
	}
	raw, err := encode(ev)
	if err != nil {
		return nil, m, Invalid(0, "", fmt.Sprintf("cannot encode event: %v", err))
	}
	return raw, m, nil
}

// adjust sends refund adjustments through sp, each built by build, and
// returns one Result per adjustment. Adjustments build refuses fail
// unsent; the others go in batches under the send path's rules.
func adjust[E any](ctx context.Context, cfg Config, sp spec, d Destination, fields []Field, adjs []Adjustment,
	build func(Adjustment) (E, mapping.Match, error)) []Result {
	results := make([]Result, len(adjs))
	var ready []int
	var events []json.RawMessage
	for i, adj := range adjs {
		raw, m, err := encoded(build(adj))
		results[i].Match = m
		if err != nil {
			results[i].Err = err
			continue
		}
		results[i].Payload = raw
		ready, events = append(ready, i), append(events, raw)
	}
	sendBuilt(ctx, cfg, sp, d, fields, results, ready, events)
	return results
}

// split sends a batch refused for invalid events again in parts, until the
// bad events stand alone.
func (r *sendRun) split(ctx context.Context, idx []int, events []json.RawMessage) {
	size := 1
	if !r.sp.singles && len(idx) > splitSingles {
		size = (len(idx) + 1) / 2
	}
	for start := 0; start < len(idx); start += size {
		end := min(start+size, len(idx))
		r.send(ctx, idx[start:end], events[start:end])
	}
}

// halt stops the destination for the rest of the batch on a failure that
// is not the events' own: throttling, refused credentials, no answer.
func (r *sendRun) halt(e *Error) {
	if e != nil && e.Class != ErrInvalid {
		r.stop = e
	}
}

// redact removes the destination's secrets from text that is kept.
func (r *sendRun) redact(s string) string {
	for _, v := range r.secrets {
		s = redact(s, v)
	}
	return s
}

// secretValues are the destination's secret credentials as they may appear
// on the wire (raw and URL-escaped), longest first.
func secretValues(d Destination, fields []Field) []string {
	var out []string
	for _, f := range fields {
		if !f.Secret {
			continue
		}
		if v := strings.TrimSpace(d.Credentials[f.Name]); len(v) >= 4 {
			out = append(out, v)
			if q := url.QueryEscape(v); q != v {
				out = append(out, q)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// splitSingles is the batch size below which a refused batch is resent
// event by event rather than in halves: for a few events that takes fewer
// requests.
const splitSingles = 8

// errWireRecorded ends a request the dry run recorded instead of sending.
var errWireRecorded = errors.New("dry run: request recorded, not sent")

// wireRecorder is an http.RoundTripper that keeps the first request and sends
// nothing.
type wireRecorder struct {
	req  *http.Request
	body []byte
}

func (rc *wireRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if rc.req == nil {
		rc.req = req
		if req.Body != nil {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			rc.body = b
		}
	}
	return nil, errWireRecorded
}

// dryRunKey marks a context as a dry run, for parts of a request that would
// otherwise call out (an OAuth token exchange).
type dryRunKey struct{}

// dryRun reports whether ctx belongs to a dry run.
func dryRun(ctx context.Context) bool { return ctx.Value(dryRunKey{}) != nil }

// render runs the send path for convs through a wireRecorder and returns the
// first request it would post, secrets redacted. Conversions the send
// path fails without sending are left out; with none left it returns the
// first one's failure.
func render(cfg Config, sp spec, d Destination, convs []mapping.Conversion, fields []Field) (Request, error) {
	if len(convs) == 0 {
		return Request{}, errors.New(sp.name + ": no conversions to render")
	}
	if len(convs) > sp.batchSize {
		return Request{}, fmt.Errorf("%s: %d conversions exceed the batch limit of %d", sp.name, len(convs), sp.batchSize)
	}
	rec := &wireRecorder{}
	cfg.Client = &http.Client{Transport: rec}
	ctx := context.WithValue(context.Background(), dryRunKey{}, true)
	results := deliver(ctx, cfg, sp, d, convs, fields)
	if rec.req == nil {
		for _, res := range results {
			if res.Err != nil {
				return Request{}, res.Err
			}
		}
		return Request{}, errors.New(sp.name + ": no conversions to send")
	}
	run := &sendRun{secrets: secretValues(d, fields)}
	header := map[string]string{}
	for k := range rec.req.Header {
		header[k] = run.redact(rec.req.Header.Get(k))
	}
	body := run.redact(string(rec.body))
	if !json.Valid([]byte(body)) {
		return Request{}, fmt.Errorf("%s: rendered body is not JSON", sp.name)
	}
	return Request{
		Method: rec.req.Method,
		URL:    run.redact(rec.req.URL.String()),
		Header: header,
		Body:   json.RawMessage(bytes.TrimSpace([]byte(body))),
	}, nil
}
