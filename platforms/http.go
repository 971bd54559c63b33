package platforms

import (
	"bytes"
	"context"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, Invalid(0, "", fmt.Sprintf("cannot build request: %v", err))
	}
	req.Header.Set("Content-Type", "application/json")
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
		return answer{}, Transient(0, "", msg)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return answer{Status: resp.StatusCode, Header: resp.Header}, Transient(resp.StatusCode, "", "answer cut off")
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// results returns n results sharing one outcome: for platforms that accept or
// reject a whole batch at once.
func results(payloads [][]byte, matches []mapping.Match, status int, response string, err error) []Result {
	out := make([]Result, len(payloads))
	for i := range payloads {
		out[i] = Result{Payload: payloads[i], StatusCode: status, Response: response, Err: err}
		if i < len(matches) {
			out[i].Match = matches[i]
		}
	}
	return out
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
