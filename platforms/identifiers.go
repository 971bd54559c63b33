package platforms

import (
	"fmt"
	"slices"
	"strings"

	"github.com/postbackhq/postback/mapping"
)

// takes lists the identifiers each platform's API accepts, as each
// sender's build fills them (the Match flags it can set). The admin shows
// the others as "not used by this platform", and advice never asks for
// them.
var takes = map[string]mapping.Match{
	"meta": {ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true,
		IP: true, UserAgent: true, FBP: true, FBC: true},
	// Click conversions (uploadClickConversions) take hashed email and
	// phone; the Data Manager API also takes a name and address.
	"google_ads": {ClickID: true, Email: true, Phone: true, Name: true, Address: true},
	"tiktok": {ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true,
		IP: true, UserAgent: true},
	"reddit":    {ClickID: true, Email: true, Phone: true, ExternalID: true, IP: true, UserAgent: true},
	"linkedin":  {ClickID: true, Email: true, Name: true},
	"microsoft": {ClickID: true, Email: true, Phone: true, IP: true, UserAgent: true},
	"pinterest": {ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true,
		IP: true, UserAgent: true},
	"snapchat": {ClickID: true, Email: true, Phone: true, Name: true, Address: true, ExternalID: true,
		IP: true, UserAgent: true},
}

// Takes reports the identifiers platform accepts; ok is false for a
// platform this table does not know.
func Takes(platform string) (m mapping.Match, ok bool) {
	m, ok = takes[platform]
	return m, ok
}

// clickNames are the click ids each platform matches on, as merchants
// know them.
var clickNames = map[string]string{
	"meta": "fbclid", "google_ads": "gclid", "tiktok": "ttclid", "reddit": "rdt_cid", "linkedin": "li_fat_id",
	"microsoft": "msclkid", "pinterest": "epik", "snapchat": "ScCid",
}

// ownClickIDs lists the click ids a conversion carries, by the name of the
// platform whose ads set them.
func ownClickIDs(c mapping.Conversion) map[string]bool {
	k := c.ClickIDs
	return map[string]bool{
		"meta":       k.FBCLID != "" || k.FBC != "",
		"google_ads": k.GCLID != "" || k.GBRAID != "" || k.WBRAID != "",
		"tiktok":     k.TTCLID != "",
		"reddit":     k.RDTCID != "",
		"linkedin":   k.LiFatID != "",
		"microsoft":  k.MSCLKID != "",
		"pinterest":  k.EPIK != "",
		"snapchat":   k.ScCID != "",
	}
}

// advise replaces the generic advice of what a delivery sent with what is
// true for this platform and this order: it names only identifiers the
// platform takes, and says when the order's click came from another
// platform's ad (no snippet would give this platform a click id then).
// Most valuable first.
func advise(platform, title string, m mapping.Match, c mapping.Conversion) mapping.Match {
	t, ok := takes[platform]
	if !ok {
		return m
	}
	var advice []string
	if t.ClickID && !m.ClickID {
		var others []string
		for p, has := range ownClickIDs(c) {
			if has && p != platform {
				others = append(others, clickNames[p])
			}
		}
		if len(others) > 0 {
			slices.Sort(others)
			advice = append(advice, fmt.Sprintf("no %s click id: the order came from another platform's ad (%s), so %s matches it by the customer's details only",
				title, strings.Join(others, ", "), title))
		} else {
			advice = append(advice, fmt.Sprintf("no %s: add Postback's script (or the Shopify custom pixel) so the landing page's %s reaches the order",
				clickNames[platform], clickNames[platform]))
		}
	}
	if t.Email && !m.Email {
		advice = append(advice, "no email: require an email at checkout")
	}
	if t.Phone && !m.Phone {
		advice = append(advice, "no phone: ask for a phone number at checkout")
	}
	if t.IP && t.UserAgent && !(m.IP && m.UserAgent) {
		advice = append(advice, "no browser IP and user agent: add Postback's script (or the Shopify custom pixel) so the browser's context joins the order")
	}
	if t.FBP && !m.FBP {
		advice = append(advice, "no _fbp browser id: install the Meta pixel and Postback's script so the _fbp cookie reaches the order")
	}
	m.Advice = advice
	return m
}
