package mapping

// Match says which identifiers a conversion carries (or a delivery sent to
// one platform), with a 0–10 estimate of how well the platform can match the
// conversion to a person and an ad click.
type Match struct {
	ClickID    bool `json:"click_id"`
	Email      bool `json:"email"`
	Phone      bool `json:"phone"`
	Name       bool `json:"name"`
	Address    bool `json:"address"`
	ExternalID bool `json:"external_id"`
	IP         bool `json:"ip"`
	UserAgent  bool `json:"user_agent"`
	FBP        bool `json:"fbp"`
	FBC        bool `json:"fbc"`
	Quality    int  `json:"quality"`
	// Reported is what the platform said back about matching (Google's
	// per-row error, Meta's messages), empty when it said nothing.
	Reported string `json:"reported,omitempty"`
	// Advice names what would raise the quality, most valuable first.
	Advice []string `json:"advice,omitempty"`
}

// Quality weights. A click id ties the conversion to the ad itself, so it
// weighs most; then the identifiers platforms match people on; IP and user
// agent together are the weakest signal.
const (
	weightClickID    = 4
	weightEmail      = 3
	weightPhone      = 2
	weightExternalID = 1
	weightNameAddr   = 1
	weightBrowserID  = 1
	weightIPAndUA    = 1
)

// Score fills Quality and Advice from the identifier flags and returns m.
func (m Match) Score() Match {
	q := 0
	var advice []string
	if m.ClickID || m.FBC {
		q += weightClickID
	} else {
		advice = append(advice, "no click id: add Postback's script (or the Shopify custom pixel) so landing-page click ids reach the order")
	}
	if m.Email {
		q += weightEmail
	} else {
		advice = append(advice, "no email: require an email at checkout")
	}
	if m.Phone {
		q += weightPhone
	} else {
		advice = append(advice, "no phone: ask for a phone number at checkout")
	}
	if m.ExternalID {
		q += weightExternalID
	}
	if m.Name && m.Address {
		q += weightNameAddr
	}
	if m.FBP {
		q += weightBrowserID
	}
	if m.IP && m.UserAgent {
		q += weightIPAndUA
	} else {
		advice = append(advice, "no browser IP and user agent: add Postback's script (or the Shopify custom pixel) so the browser's context joins the order")
	}
	if q > 10 {
		q = 10
	}
	m.Quality = q
	m.Advice = advice
	return m
}

// MatchOf reports the identifiers a conversion carries before any platform
// has chosen what to send.
func MatchOf(c Conversion) Match {
	u := c.User
	m := Match{
		ClickID:    c.ClickIDs.Any(),
		Email:      u.Email != "",
		Phone:      u.Phone != "",
		Name:       u.FirstName != "" || u.LastName != "",
		Address:    u.City != "" || u.Zip != "" || u.Street != "",
		ExternalID: u.ExternalID != "",
		IP:         c.ClientIP != "",
		UserAgent:  c.UserAgent != "",
		FBP:        c.ClickIDs.FBP != "",
		FBC:        c.ClickIDs.FBC != "" || c.ClickIDs.FBCLID != "",
	}
	return m.Score()
}
