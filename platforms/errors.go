package platforms

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The two families every delivery failure belongs to. The delivery loop asks
// only errors.Is against these and the classes below.
var (
	ErrRetryable = errors.New("retryable delivery failure")
	ErrPermanent = errors.New("permanent delivery failure")
)

// The four failure classes, each with its own clock in the delivery loop:
//
//   - ErrTransient (retryable): network errors, timeouts, 5xx; retried with
//     backoff until the platform's acceptance window closes.
//   - ErrThrottled (retryable): rate limits; retried after Retry-After (or
//     backoff) for the same window, and the whole destination waits.
//   - ErrAuth (permanent until fixed): the platform refused the credentials;
//     the destination's deliveries are parked until they are replaced.
//   - ErrInvalid (permanent): the platform refused the event itself; the
//     delivery fails at once with the reason.
var (
	ErrTransient = errors.New("transient failure")
	ErrThrottled = errors.New("throttled by platform")
	ErrAuth      = errors.New("credentials rejected")
	ErrInvalid   = errors.New("event rejected")
)

// Error is a classified delivery failure. It matches its class sentinel and
// the class's family (ErrRetryable or ErrPermanent) with errors.Is.
type Error struct {
	Class      error         // one of ErrTransient, ErrThrottled, ErrAuth, ErrInvalid
	StatusCode int           // HTTP status, 0 if no answer
	Code       string        // the platform's own error code, if any
	Message    string        // safe to show to the merchant
	RetryAfter time.Duration // the platform's requested wait, 0 if none
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Code != "" {
		msg = fmt.Sprintf("%s (code %s)", msg, e.Code)
	}
	if e.StatusCode != 0 {
		msg = fmt.Sprintf("http %d: %s", e.StatusCode, msg)
	}
	return fmt.Sprintf("%v: %s", e.Class, msg)
}

// Unwrap exposes the class and its family to errors.Is.
func (e *Error) Unwrap() []error {
	family := ErrPermanent
	if e.Class == ErrTransient || e.Class == ErrThrottled {
		family = ErrRetryable
	}
	return []error{e.Class, family}
}

// Transient returns a retryable failure.
func Transient(status int, code, msg string) *Error {
	return &Error{Class: ErrTransient, StatusCode: status, Code: code, Message: msg}
}

// Throttled returns a rate-limit failure that asks to wait retryAfter.
func Throttled(status int, code, msg string, retryAfter time.Duration) *Error {
	return &Error{Class: ErrThrottled, StatusCode: status, Code: code, Message: msg, RetryAfter: retryAfter}
}

// Auth returns a credentials failure.
func Auth(status int, code, msg string) *Error {
	return &Error{Class: ErrAuth, StatusCode: status, Code: code, Message: msg}
}

// Invalid returns a failure of the event itself.
func Invalid(status int, code, msg string) *Error {
	return &Error{Class: ErrInvalid, StatusCode: status, Code: code, Message: msg}
}

// ClassifyStatus classes an HTTP answer by status alone, for platforms whose
// error bodies add nothing, and as the fallback for the others: 429 is
// throttled (honouring Retry-After), 401 and 403 are auth, 408 and 5xx are
// transient, and any other 4xx is invalid.
func ClassifyStatus(status int, header http.Header, msg string, now time.Time) *Error {
	switch {
	case status == http.StatusTooManyRequests:
		return Throttled(status, "", msg, RetryAfter(header, now))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Auth(status, "", msg)
	case status == http.StatusRequestTimeout || status >= 500:
		e := Transient(status, "", msg)
		e.RetryAfter = RetryAfter(header, now)
		return e
	case status >= 400:
		return Invalid(status, "", msg)
	}
	return nil
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date); 0 when
// absent or unparseable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ParseError reads back the text Error returns, for a failure that was
// stored as text (a delivery's last error): its class, HTTP status, the
// platform's code and message. It reports false when s is not of that
// form, for example when the text was written by something else.
func ParseError(s string) (*Error, bool) {
	for _, class := range []error{ErrTransient, ErrThrottled, ErrAuth, ErrInvalid} {
		rest, found := strings.CutPrefix(s, class.Error()+": ")
		if !found {
			continue
		}
		e := &Error{Class: class}
		if after, ok := strings.CutPrefix(rest, "http "); ok {
			if status, msg, ok := strings.Cut(after, ": "); ok {
				if n, err := strconv.Atoi(status); err == nil {
					e.StatusCode, rest = n, msg
				}
			}
		}
		if i := strings.LastIndex(rest, " (code "); i >= 0 && strings.HasSuffix(rest, ")") {
			e.Code, rest = rest[i+len(" (code "):len(rest)-1], rest[:i]
		}
		e.Message = rest
		return e, true
	}
	return nil, false
}
