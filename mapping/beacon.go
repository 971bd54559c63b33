package mapping

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Beacon is what the buyer's browser reported about one order: the click
// ids and cookies the storefront script kept since landing, the page, the
// consent state, and (taken from the request, never from the body) the
// browser's user agent and IP.
type Beacon struct {
	// OrderRef names the order (see Conversion.OrderRef). Required.
	OrderRef string `json:"order_ref"`
	// EventID is the id the browser pixel used, kept to check that pixel
	// and server share one id.
	EventID string `json:"event_id,omitempty"`
	PageURL string `json:"page_url,omitempty"`
	FBP     string `json:"fbp,omitempty"`
	FBC     string `json:"fbc,omitempty"`
	TTP     string `json:"ttp,omitempty"`
	// ClickIDs are keyed by canonical name (see CanonicalClickKey).
	ClickIDs map[string]BeaconClick `json:"click_ids,omitempty"`
	UTM      map[string]string      `json:"utm,omitempty"`
	Consent  *Consent               `json:"consent,omitempty"`

	UserAgent  string    `json:"user_agent,omitempty"`
	ClientIP   string    `json:"client_ip,omitempty"`
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// Dropped lists what was left out of the beacon, and why.
	Dropped []string `json:"dropped,omitempty"`
}

// BeaconClick is one click id with the time the script first saw it.
type BeaconClick struct {
	Value string `json:"value"`
	// SeenAt is Unix seconds; 0 when unknown.
	SeenAt int64 `json:"seen_at,omitempty"`
}

// Consent is a browser's consent state, as Google Consent Mode names it
// (ad_user_data, ad_personalization) plus analytics. A nil field is
// unknown.
type Consent struct {
	AdUserData        *bool `json:"ad_user_data,omitempty"`
	AdPersonalization *bool `json:"ad_personalization,omitempty"`
	Analytics         *bool `json:"analytics,omitempty"`
}

// Denied reports whether the browser refused sharing user data for ads.
func (c *Consent) Denied() bool { return c != nil && c.AdUserData != nil && !*c.AdUserData }

// Limits on what a beacon may carry.
const (
	maxRefLen   = 256
	maxValueLen = 512
	maxURLLen   = 2048
)

// utmKeys are the UTM parameters a beacon may carry.
var utmKeys = map[string]bool{
	"utm_source": true, "utm_medium": true, "utm_campaign": true, "utm_term": true,
	"utm_content": true, "utm_id": true,
}

// Meta's cookie formats: _fbc is fb.<subdomain index>.<creation time in
// ms>.<fbclid> and _fbp is fb.<subdomain index>.<creation time in
// ms>.<random number>; the subdomain index is 0, 1 or 2. Source:
// developers.facebook.com/docs/marketing-api/conversions-api/parameters/fbp-and-fbc
// (read 2026-12-03).
var (
	fbcFormat = regexp.MustCompile(`^fb\.[012]\.[0-9]{13}\.[!-~]+$`)
	fbpFormat = regexp.MustCompile(`^fb\.[012]\.[0-9]{13}\.[0-9]+$`)
)

// ValidFBC reports whether s has the form of Meta's fbc.
func ValidFBC(s string) bool { return len(s) <= maxValueLen && fbcFormat.MatchString(s) }

// ValidFBP reports whether s has the form of Meta's fbp.
func ValidFBP(s string) bool { return len(s) <= maxValueLen && fbpFormat.MatchString(s) }

// plainValue reports whether s is a plausible id: printable ASCII without
// spaces, at most maxValueLen long.
func plainValue(s string) bool {
	if s == "" || len(s) > maxValueLen {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// ValidOrderRef reports whether s can name an order: 8 to 256 printable
// ASCII characters without spaces. Short refs are refused because a ref
// is the only thing that keeps strangers from adding data to an order.
func ValidOrderRef(s string) bool {
	return len(s) >= 8 && len(s) <= maxRefLen && plainValue(s)
}

// Clean drops what a beacon must not carry, noting each drop in Dropped:
// values of the wrong form (a malformed fbc), unknown click id names,
// click times that are not plausible, a page URL that is not http(s), UTM
// parameters that are not UTM. now bounds the click times. It reports
// false when the beacon names no usable order.
func (b *Beacon) Clean(now time.Time) bool {
	b.OrderRef = strings.TrimSpace(b.OrderRef)
	if !ValidOrderRef(b.OrderRef) {
		return false
	}
	drop := func(what string) { b.Dropped = append(b.Dropped, what) }
	b.EventID = strings.TrimSpace(b.EventID)
	if b.EventID != "" && !plainValue(b.EventID) {
		b.EventID = ""
		drop("event_id: not a plain id")
	}
	b.PageURL = strings.TrimSpace(b.PageURL)
	if b.PageURL != "" && !httpURL(b.PageURL) {
		b.PageURL = ""
		drop("page_url: not an absolute http(s) URL")
	}
	if b.FBC = strings.TrimSpace(b.FBC); b.FBC != "" && !ValidFBC(b.FBC) {
		b.FBC = ""
		drop("fbc: not of Meta's form fb.<0-2>.<creation ms>.<fbclid>")
	}
	if b.FBP = strings.TrimSpace(b.FBP); b.FBP != "" && !ValidFBP(b.FBP) {
		b.FBP = ""
		drop("fbp: not of Meta's form fb.<0-2>.<creation ms>.<number>")
	}
	if b.TTP = strings.TrimSpace(b.TTP); b.TTP != "" && !plainValue(b.TTP) {
		b.TTP = ""
		drop("ttp: not a plain id")
	}
	clicks := map[string]BeaconClick{}
	for _, name := range sortedKeys(b.ClickIDs) {
		c := b.ClickIDs[name]
		key := CanonicalClickKey(name)
		c.Value = strings.TrimSpace(c.Value)
		switch {
		case key == "" || key == "fbp" || key == "fbc" || key == "ttp":
			drop("click_ids." + safeName(name) + ": not a click id Postback knows")
			continue
		case !plainValue(c.Value):
			drop("click_ids." + key + ": not a plain id")
			continue
		}
		// A click time before 2010 or more than a day ahead of our clock
		// would make an fbc Meta refuses; the click is kept without it.
		if c.SeenAt != 0 && (c.SeenAt < 1262304000 || c.SeenAt > now.Add(24*time.Hour).Unix()) {
			c.SeenAt = 0
			drop("click_ids." + key + ".seen_at: not a plausible time")
		}
		clicks[key] = c
	}
	b.ClickIDs = clicks
	utm := map[string]string{}
	for _, k := range sortedKeys(b.UTM) {
		v := strings.TrimSpace(b.UTM[k])
		key := strings.ToLower(k)
		if !strings.HasPrefix(key, "utm_") {
			key = "utm_" + key
		}
		if !utmKeys[key] || len(v) > maxValueLen || !printable(v) {
			drop("utm." + safeName(k) + ": not a UTM parameter")
			continue
		}
		if v != "" {
			utm[key] = v
		}
	}
	b.UTM = utm
	return true
}

// AddBeacon adds what the conversion lacks from a browser beacon: it never
// overwrites what the store sent. fbc comes from the _fbc cookie, or is
// built from the fbclid and the time the script first saw it, never from
// the order time. When the browser refused ad_user_data, only the consent
// state is added. It reports what it added.
func (c *Conversion) AddBeacon(b Beacon) []string {
	var added []string
	if c.Consent == nil && b.Consent != nil {
		cs := *b.Consent
		c.Consent = &cs
		added = append(added, "consent")
	}
	c.BeaconJoined = true
	if b.Consent.Denied() {
		return added
	}
	fill := func(name string, dst *string, v string) {
		if *dst == "" && v != "" {
			*dst = v
			added = append(added, name)
		}
	}
	fill("user_agent", &c.UserAgent, b.UserAgent)
	fill("ip", &c.ClientIP, b.ClientIP)
	fill("page_url", &c.SourceURL, b.PageURL)
	fill("fbp", &c.ClickIDs.FBP, b.FBP)
	fill("ttp", &c.ClickIDs.TTP, b.TTP)
	fill("fbc", &c.ClickIDs.FBC, b.FBC)
	for _, key := range sortedKeys(b.ClickIDs) {
		click := b.ClickIDs[key]
		before := *c.ClickIDs.field(key)
		if before != "" {
			continue
		}
		c.ClickIDs.Set(key, click.Value)
		added = append(added, key)
		if key == "fbclid" && c.ClickIDs.FBC == "" && click.SeenAt > 0 {
			c.ClickIDs.FBC = FBC(click.Value, time.Unix(click.SeenAt, 0))
			added = append(added, "fbc")
		}
		if c.ClickTime.IsZero() && click.SeenAt > 0 {
			c.ClickTime = time.Unix(click.SeenAt, 0).UTC()
		}
	}
	return added
}

// field returns the ClickIDs field for a canonical key (a scratch string
// for an unknown key).
func (c *ClickIDs) field(key string) *string {
	switch key {
	case "fbclid":
		return &c.FBCLID
	case "gclid":
		return &c.GCLID
	case "gbraid":
		return &c.GBRAID
	case "wbraid":
		return &c.WBRAID
	case "ttclid":
		return &c.TTCLID
	case "rdt_cid":
		return &c.RDTCID
	case "msclkid":
		return &c.MSCLKID
	case "li_fat_id":
		return &c.LiFatID
	case "epik":
		return &c.EPIK
	case "sccid":
		return &c.ScCID
	case "fbp":
		return &c.FBP
	case "fbc":
		return &c.FBC
	case "ttp":
		return &c.TTP
	case "scid":
		return &c.SCID
	case "rdt_uuid":
		return &c.RDTUUID
	}
	return new(string)
}

func httpURL(s string) bool {
	if len(s) > maxURLLen {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// safeName shortens and quotes a name from a beacon for a drop reason.
func safeName(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DropMalformedBrowserIDs removes an fbc a store kept that does not have
// Meta's form (Meta refuses such an fbc as modified), so it is never sent,
// and returns why for the event's reason (without the value). fbp is left
// as the store sent it: Meta accepts it as an opaque browser id.
func (c *ClickIDs) DropMalformedBrowserIDs() []string {
	var notes []string
	if v := strings.TrimSpace(c.FBC); v != "" && !ValidFBC(v) {
		c.FBC = ""
		notes = append(notes, "fbc dropped: not of Meta's form fb.<0-2>.<creation ms>.<fbclid>")
	}
	return notes
}
