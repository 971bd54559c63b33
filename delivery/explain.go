package delivery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// What the worker adds around a platform's error when it records a
// delivery; Explain takes them off again.
const (
	waitingSuffix = "; waiting for new credentials"
	gaveUpPrefix  = "gave up: the platform's event window closes before the next retry; last error: "
)

// Where the step that fixes a failure is taken.
const (
	FixDestination = "destination" // the destination's credentials or settings
	FixRedeliver   = "redeliver"   // the event, sent again once the cause is fixed
)

// Explanation is a delivery's failure as the merchant reads it: one plain
// headline, the step that fixes it, and the platform's own code and words
// kept apart, so that nothing is said twice.
type Explanation struct {
	// Headline says what happened in one sentence without a final stop:
	// "TikTok refused the access token", "Meta rejected the event:
	// invalid email hash", "Not sent to Google Ads: …".
	Headline string
	// Fix is the step that fixes it, a sentence; empty when there is
	// nothing to do (Postback retries by itself, or chose not to send).
	Fix string
	// FixOn says where Fix is done: FixDestination, FixRedeliver or "".
	FixOn string
	// Code, Message and StatusCode are the platform's own error code,
	// words and HTTP status; all three are empty when the platform was
	// never asked.
	Code       string
	Message    string
	StatusCode int
	// Quoted says the headline already quotes Message, so Detail leaves
	// it out.
	Quoted bool
}

// Detail is the platform's own code, HTTP status and words in one line,
// for a details element: "code 40105 · HTTP 200 · Access token is invalid".
func (e Explanation) Detail() string {
	var parts []string
	if e.Code != "" {
		parts = append(parts, "code "+e.Code)
	}
	if e.StatusCode != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", e.StatusCode))
	}
	if e.Message != "" && !e.Quoted {
		parts = append(parts, e.Message)
	}
	return strings.Join(parts, " · ")
}

// ExplainDelivery explains a delivery's last error; the zero Explanation
// when it has none.
func ExplainDelivery(d store.Delivery) Explanation {
	return Explain(d.Platform, d.Status, d.ErrorClass, d.LastError)
}

// headlineMax is the longest platform message a headline quotes; a longer
// one is left to the detail.
const headlineMax = 100

// Explain turns a delivery's recorded error (as the worker composed it
// from the platform's *platforms.Error) into an Explanation. status and
// class are the delivery's state and error class; class may be empty (an
// attempt's history), and is then read from the text.
func Explain(platform, status, class, lastError string) Explanation {
	text := strings.TrimSpace(lastError)
	if text == "" {
		return Explanation{}
	}
	title := platforms.Title(platform)
	text, gaveUp := strings.CutPrefix(text, gaveUpPrefix)
	text = strings.TrimSuffix(text, waitingSuffix)
	perr, parsed := platforms.ParseError(text)
	msg := text
	var code string
	var httpStatus int
	if parsed {
		msg, code, httpStatus = perr.Message, perr.Code, perr.StatusCode
		if class == "" {
			class = classOf(perr)
		}
	}
	raw := msg
	msg = stripPlatformPrefix(msg, platform, title)
	if status == store.DeliverySkipped {
		// Postback's own choice: its reason is the headline, and no
		// platform said anything.
		why := strings.TrimSuffix(strings.TrimSuffix(platforms.Titled(msg), "; not sent"), ".")
		return Explanation{Headline: "Not sent to " + title + ": " + lowerFirst(why)}
	}
	ex := Explanation{Code: code, Message: msg, StatusCode: httpStatus}
	switch {
	case class == "auth" || status == store.DeliveryWaitingCredentials:
		explainAuth(&ex, title, platform, raw, code, httpStatus)
	case !parsed && !gaveUp:
		// Written by Postback itself (a conversion that cannot be read):
		// the text is the headline.
		return Explanation{Headline: upperFirst(strings.TrimSuffix(platforms.Titled(msg), "."))}
	case gaveUp:
		ex.Headline = title + " kept failing until its window closed: not sent"
	case class == "throttled":
		ex.Headline = title + " asked Postback to slow down; it retries by itself"
	case class == "transient":
		switch {
		case httpStatus >= 500:
			ex.Headline = fmt.Sprintf("%s had a server error (HTTP %d); Postback retries by itself", title, httpStatus)
		case httpStatus == 0:
			ex.Headline = title + " did not answer; Postback retries by itself"
		default:
			ex.Headline = title + " could not take the event now; Postback retries by itself"
		}
	default: // invalid: the platform refused the event itself
		ex.Headline = title + " rejected the event"
		if short := strings.TrimSuffix(msg, "."); short != "" && utf8.RuneCountInString(short) <= headlineMax && !strings.Contains(short, "\n") {
			ex.Headline += ": " + lowerFirst(short)
			ex.Quoted = true
		}
		ex.Fix, ex.FixOn = "Correct what "+title+" names (in the store's order or the destination's settings), then redeliver the event.", FixRedeliver
	}
	if strings.EqualFold(strings.TrimSuffix(ex.Message, "."), ex.Headline) {
		ex.Quoted = true // said already, in the same words
	}
	return ex
}

// explainAuth fills a refused-credentials explanation: which credential
// and the step that replaces it. msg is the error's whole message, with
// Postback's own words about it.
func explainAuth(ex *Explanation, title, platform, msg, code string, httpStatus int) {
	lower := strings.ToLower(msg)
	waiting := "; the orders waiting for it are sent at once."
	switch {
	case code == platforms.CodeVersionSunset:
		ex.Headline = title + " no longer serves the API version this destination uses"
		ex.Fix = "Change the API version in the destination's settings and save" + waiting
	case httpStatus == 0 && code != "" && code != "invalid_grant" && !strings.Contains(lower, "oauth"):
		// Refused by Postback before asking the platform: a credential
		// or setting is missing or malformed. Its words name which.
		ex.Headline = "The " + title + " destination is not set up: " + lowerFirst(strings.TrimSuffix(platforms.Titled(msg), "."))
		ex.Code, ex.Message = "", ""
		ex.Fix = "Fill in the destination's credentials and settings and save" + waiting
	case code == "invalid_grant" || strings.Contains(lower, "refresh token"):
		ex.Headline = title + " refused the refresh token"
		ex.Fix = "Reconnect the " + title + " account: paste a new refresh token in the destination's credentials and save" + waiting
	case strings.Contains(lower, "permission") || strings.Contains(lower, "scope") || strings.Contains(lower, "refused access") ||
		strings.Contains(lower, "not allowed") || httpStatus == 403:
		ex.Headline = title + " refused access to the account"
		ex.Fix = "Give the token's user access to the ad account (or pixel) in " + title + ", or paste a token that has it, and save" + waiting
	case strings.Contains(lower, "token"):
		ex.Headline = title + " refused the access token"
		ex.Fix = "Paste a new access token in the destination's credentials and save" + waiting
	default:
		ex.Headline = title + " refused the credentials"
		ex.Fix = "Check the destination's credentials and save" + waiting
	}
	ex.FixOn = FixDestination
	if platform == "" {
		ex.FixOn = ""
	}
}

// classOf names a parsed error's class as the worker records it.
func classOf(e *platforms.Error) string {
	switch e.Class {
	case platforms.ErrAuth:
		return "auth"
	case platforms.ErrThrottled:
		return "throttled"
	case platforms.ErrTransient:
		return "transient"
	}
	return "invalid"
}

// stripPlatformPrefix takes off what Postback put before the platform's
// words: "tiktok: …", "Pinterest rejected the access token: …". The
// headline says the same, so the detail need not.
func stripPlatformPrefix(msg, platform, title string) string {
	lower := strings.ToLower(msg)
	names := []string{strings.ToLower(platform), strings.ToLower(title)}
	if first, _, ok := strings.Cut(names[1], " "); ok {
		names = append(names, first) // "google" for Google Ads
	}
	for _, n := range names {
		if n == "" || !strings.HasPrefix(lower, n) {
			continue
		}
		head, rest, ok := strings.Cut(msg, ": ")
		if !ok || strings.ContainsAny(head, "()") || len(head) > 60 {
			return msg
		}
		headLower := strings.ToLower(head)
		if headLower == n || strings.Contains(headLower, "rejected") || strings.Contains(headLower, "refused") {
			return strings.TrimSpace(rest)
		}
		return msg
	}
	return msg
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !unicode.IsUpper(r) {
		return s
	}
	// Keep acronyms and names as they are: "HTTP", "TikTok", "Meta".
	if next, _ := utf8.DecodeRuneInString(s[n:]); unicode.IsUpper(next) || isName(s) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// isName reports whether s starts with a platform's or store's name.
func isName(s string) bool {
	for _, n := range []string{"Meta", "Google", "TikTok", "Reddit", "LinkedIn", "Microsoft", "Pinterest", "Snapchat", "Shopify", "WooCommerce", "Stripe", "Postback"} {
		if strings.HasPrefix(s, n) {
			return true
		}
	}
	return false
}
