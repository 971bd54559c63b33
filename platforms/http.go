package platforms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// maxResponse caps how much of a platform's answer is read and kept.
const maxResponse = 1 << 20

// answer is a platform's raw HTTP answer.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// post sends body to url with the given headers and reads the answer. A
// request that gets no answer (network error, timeout, cancelled context)
// returns a transient *Error; any answer, whatever its status, is returned
// for the platform to classify.
func post(ctx context.Context, client *http.Client, url string, header map[string]string, body []byte) (answer, error) {
	return call(ctx, client, http.MethodPost, url, header, body)
}

// call is post for any method; a nil body sends none.
func call(ctx context.Context, client *http.Client, method, url string, header map[string]string, body []byte) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, Invalid(0, "", fmt.Sprintf("cannot build request: %v", err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "postback/1")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		msg := "no answer from platform"
		var urlErr interface{ Timeout() bool }
		if errors.As(err, &urlErr) && urlErr.Timeout() {
			msg = "platform did not answer in time"
		}
		if ctx.Err() != nil {
			msg = "send interrupted"
		}
		if errors.Is(err, ErrRedirect) && resp != nil {
			// NoRedirect refused to follow: the client hands back the 3xx
			// (body closed) with the error. A failure, never a success.
			return answer{Status: resp.StatusCode, Header: resp.Header}, Transient(resp.StatusCode, "",
				"platform answered with a redirect, which is not followed (check the platform's base URL): "+errors.Unwrap(err).Error())
		}
		return answer{}, Transient(0, "", msg)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return answer{Status: resp.StatusCode, Header: resp.Header}, Transient(resp.StatusCode, "", "answer cut off")
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// spread gives the conversions at idx one shared outcome (err nil for
// success): for a request answered or failed as a whole.
func spread(results []Result, idx []int, status int, response string, err error) {
	for _, i := range idx {
		results[i].StatusCode, results[i].Response, results[i].Err = status, response, err
	}
}

// prepare builds each conversion's event with build and encodes it. It
// returns one Result per conversion, carrying build's Match even when the
// conversion fails, and the indexes and events of the conversions ready to
// send, in order; only those carry their Payload. A conversion past maxAge
// fails with ageError(platform, maxAge) whatever build said; one that build
// refuses fails with build's error.
func prepare[E any](convs []mapping.Conversion, now time.Time, maxAge time.Duration, platform string,
	build func(mapping.Conversion) (E, mapping.Match, error)) (results []Result, ready []int, events []json.RawMessage) {
	results = make([]Result, len(convs))
	for i, c := range convs {
		ev, match, err := build(c)
		results[i].Match = match
		switch {
		case tooOld(c, maxAge, now):
			results[i].Err = ageError(platform, maxAge)
		case err != nil:
			results[i].Err = err
		default:
			b, err := encode(ev)
			if err != nil {
				results[i].Err = Invalid(0, "", fmt.Sprintf("cannot encode event: %v", err))
				continue
			}
			results[i].Payload = b
			ready = append(ready, i)
			events = append(events, b)
		}
	}
	return results, ready, events
}

// failAll is n results that all fail with err, none sent: for a destination
// that cannot be used.
func failAll(n int, err error) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// withEvents encodes rest, a struct, as a JSON object whose first member
// is name holding events as an array: what json.Marshal makes of the same
// struct with the events as its first field. The events are copied as
// they are: each is encoding/json's own output (valid, compact, HTML
// escaped), which json.Marshal would scan and compact again, a fifth of
// the work of rendering a batch of 1,000.
func withEvents(name string, events []json.RawMessage, rest any) ([]byte, error) {
	tail, err := json.Marshal(rest)
	if err != nil {
		return nil, err
	}
	if len(tail) < 2 || tail[0] != '{' {
		return nil, fmt.Errorf("encode request: %T is not a JSON object", rest)
	}
	key, err := json.Marshal(name)
	if err != nil {
		return nil, err
	}
	n := len(key) + len(tail) + 4
	for _, e := range events {
		n += len(e) + 1
	}
	b := make([]byte, 0, n)
	b = append(append(append(b, '{'), key...), ':', '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		if len(e) == 0 {
			e = json.RawMessage("null") // as json.Marshal writes a nil RawMessage
		}
		b = append(b, e...)
	}
	b = append(b, ']')
	if len(tail) > 2 {
		b = append(b, ',')
	}
	return append(b, tail[1:]...), nil
}

// encode is an event's JSON; an event that already is JSON is taken as it
// is.
func encode[E any](ev E) (json.RawMessage, error) {
	if raw, ok := any(ev).(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(ev)
}

// credential is the destination's credential name, trimmed; a missing one
// is an ErrAuth failure.
func credential(d Destination, name string) (string, error) {
	v := strings.TrimSpace(d.Credentials[name])
	if v == "" {
		return "", Auth(0, "missing_credential", name+" is not set")
	}
	return v, nil
}

// bearerHeaders are the headers of a JSON request authorised with a bearer
// token.
func bearerHeaders(token string) map[string]string {
	return map[string]string{
		"Authorization": "Bearer " + token,
		"Content-Type":  "application/json",
	}
}

// bearerRequest is a spec's request for platforms authorised with the
// destination's access_token as a bearer token, at endpoint(d), with the
// events wrapped by body.
func bearerRequest(endpoint func(Destination) (string, error), body func([]json.RawMessage) ([]byte, error)) func(context.Context, Destination, []json.RawMessage) (outgoing, error) {
	return func(_ context.Context, d Destination, events []json.RawMessage) (outgoing, error) {
		url, err := endpoint(d)
		if err != nil {
			return outgoing{}, err
		}
		token, err := credential(d, "access_token")
		if err != nil {
			return outgoing{}, err
		}
		b, err := body(events)
		if err != nil {
			return outgoing{}, Invalid(0, "", fmt.Sprintf("cannot encode batch: %v", err))
		}
		return outgoing{url: url, header: bearerHeaders(token), body: b}, nil
	}
}

// classified is post's failure as the *Error it is; any other error counts
// as a transient failure of platform's request.
func classified(err error, platform string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Transient(0, "", platform+": request failed")
}

// asError is e as an error: nil when e is nil, since a nil *Error stored in
// an error is not a nil error.
func asError(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// tooOld reports whether a conversion is past the platform's window.
func tooOld(c mapping.Conversion, maxAge time.Duration, now time.Time) bool {
	return maxAge > 0 && now.Sub(c.EventTime) > maxAge
}

// ageError is the failure for a conversion past the platform's window.
func ageError(platform string, maxAge time.Duration) *Error {
	days := int(maxAge / (24 * time.Hour))
	return Invalid(0, "event_too_old", fmt.Sprintf("event is older than %s's %d-day window; not sent", platform, days))
}

// hashedField is a hashed identifier as Meta, Pinterest and Snapchat take
// it: a one-element array holding the SHA-256 hex of a normalized value (a
// value that already is a digest passes through), or nil when there is
// nothing to send.
func hashedField(normalized string) []string {
	if h := mapping.Hash(normalized); h != "" {
		return []string{h}
	}
	return nil
}

// redact replaces a secret's value in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "REDACTED")
}

// truncate shortens a platform answer for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
