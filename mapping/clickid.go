package mapping

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// clickKeys maps every accepted spelling of a click id or browser id (URL
// parameter, cookie name, attribute name) to the canonical key used by
// ClickIDs.Set.
var clickKeys = map[string]string{
	"fbclid": "fbclid", "gclid": "gclid", "gbraid": "gbraid", "wbraid": "wbraid",
	"ttclid": "ttclid", "rdt_cid": "rdt_cid", "msclkid": "msclkid", "li_fat_id": "li_fat_id",
	"epik": "epik", "_epik": "epik", "sccid": "sccid",
	"fbp": "fbp", "_fbp": "fbp", "fbc": "fbc", "_fbc": "fbc",
	"ttp": "ttp", "_ttp": "ttp", "scid": "scid", "_scid": "scid",
	"rdt_uuid": "rdt_uuid", "_rdt_uuid": "rdt_uuid",
}

// CanonicalClickKey returns the canonical key for a parameter, cookie or
// attribute name ("_fbp" → "fbp", "ScCid" → "sccid"), or "".
func CanonicalClickKey(name string) string {
	return clickKeys[strings.ToLower(strings.TrimSpace(name))]
}

// Set stores value under a canonical key (see CanonicalClickKey); it does
// not overwrite a value already present, so the first source wins. It
// reports whether the key is known.
func (c *ClickIDs) Set(key, value string) bool {
	value = strings.TrimSpace(value)
	var f *string
	switch key {
	case "fbclid":
		f = &c.FBCLID
	case "gclid":
		f = &c.GCLID
	case "gbraid":
		f = &c.GBRAID
	case "wbraid":
		f = &c.WBRAID
	case "ttclid":
		f = &c.TTCLID
	case "rdt_cid":
		f = &c.RDTCID
	case "msclkid":
		f = &c.MSCLKID
	case "li_fat_id":
		f = &c.LiFatID
	case "epik":
		f = &c.EPIK
	case "sccid":
		f = &c.ScCID
	case "fbp":
		f = &c.FBP
	case "fbc":
		f = &c.FBC
	case "ttp":
		f = &c.TTP
	case "scid":
		f = &c.SCID
	case "rdt_uuid":
		f = &c.RDTUUID
	default:
		return false
	}
	if *f == "" {
		*f = value
	}
	return true
}

// SetNamed stores value under a name as a store or storefront script spells
// it; names maps extra, shop-configured names to canonical keys. It reports
// whether the name was recognized.
func (c *ClickIDs) SetNamed(name, value string, names map[string]string) bool {
	key := CanonicalClickKey(name)
	if k, ok := names[name]; ok {
		key = CanonicalClickKey(k)
	}
	if key == "" || strings.TrimSpace(value) == "" {
		return false
	}
	return c.Set(key, value)
}

// ParseLandingURL reads click ids from a landing URL's query. The URL may be
// absolute or relative ("/products/x?fbclid=…"), as Shopify stores it.
// Parameter names are matched without regard to case (ScCid, sccid).
func ParseLandingURL(landing string) ClickIDs {
	var c ClickIDs
	c.AddLandingURL(landing, nil)
	return c
}

// AddLandingURL fills empty click ids from a landing URL's query. Parameters
// are read in the order they appear, so when a name is repeated (or spelled
// two ways, fbclid and FBCLID) the first one wins, every time.
func (c *ClickIDs) AddLandingURL(landing string, names map[string]string) {
	landing = strings.TrimSpace(landing)
	i := strings.IndexByte(landing, '?')
	if i < 0 {
		return
	}
	q := landing[i+1:]
	if j := strings.IndexByte(q, '#'); j >= 0 {
		q = q[:j]
	}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		// A pair that does not unescape is skipped, as url.ParseQuery does;
		// the rest of the query still counts.
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			continue
		}
		c.SetNamed(name, value, names)
	}
}

// FBC builds Meta's fbc value from an fbclid seen at t:
// "fb.1.<unix milliseconds>.<fbclid>". The fbclid is kept as it is. It
// returns "" when fbclid is empty or t is zero or before 1970, which would
// make a creation time Meta rejects.
func FBC(fbclid string, t time.Time) string {
	if fbclid == "" || t.IsZero() || t.UnixMilli() <= 0 {
		return ""
	}
	return "fb.1." + strconv.FormatInt(t.UnixMilli(), 10) + "." + fbclid
}
