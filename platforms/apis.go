package platforms

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/postbackhq/postback/mapping"
)

// API is one of a platform's interfaces a destination can choose with
// settings.api (Google Ads: data_manager or google_ads_api; Microsoft:
// uet_capi or offline_conversions).
type API struct {
	Name   string
	Label  string
	Sender Sender
}

// Compile-time checks: a choice is a full sender.
var (
	_ Sender        = (*APIChoice)(nil)
	_ Adjuster      = (*APIChoice)(nil)
	_ StatusChecker = (*APIChoice)(nil)
)

// APIChoice is one platform's sender that hands each destination to the
// API its settings.api names (the first API when unset).
type APIChoice struct {
	platform string
	apis     []API
}

// NewAPIChoice returns platform's sender over apis; the first is the
// default.
func NewAPIChoice(platform string, apis ...API) *APIChoice {
	return &APIChoice{platform: platform, apis: apis}
}

// APIs lists the choices, default first.
func (c *APIChoice) APIs() []API { return c.apis }

// Pick is the API a destination uses, or an ErrAuth failure naming
// settings.api when it names none of them.
func (c *APIChoice) Pick(d Destination) (API, error) {
	name := strings.TrimSpace(d.Settings["api"])
	if name == "" {
		return c.apis[0], nil
	}
	for _, a := range c.apis {
		if a.Name == name {
			return a, nil
		}
	}
	return API{}, Auth(0, "invalid_configuration", "api must be one of "+strings.Join(c.names(), ", "))
}

func (c *APIChoice) names() []string {
	out := make([]string, len(c.apis))
	for i, a := range c.apis {
		out[i] = a.Name
	}
	return out
}

// Name is the platform key.
func (c *APIChoice) Name() string { return c.platform }

// Fields is the api setting, then every API's fields once. A field is
// required only when every API requires it; the others say which API needs
// them, and each API's sender refuses a destination that lacks them.
func (c *APIChoice) Fields() []Field {
	var help []string
	for i, a := range c.apis {
		h := a.Name + " (" + a.Label + ")"
		if i == 0 {
			h += ", the default"
		}
		help = append(help, h)
	}
	choices := []Choice{{Value: "", Label: "Default: " + c.apis[0].Label}}
	for _, a := range c.apis {
		choices = append(choices, Choice{Value: a.Name, Label: a.Label})
	}
	out := []Field{{Name: "api", Label: "API", Setting: true, Choices: choices,
		Help: "Which " + Title(c.platform) + " API to send through: " + strings.Join(help, "; ") + "."}}
	type seen struct {
		at   int
		apis []string
		req  int
	}
	index := map[string]*seen{}
	for _, a := range c.apis {
		for _, f := range a.Sender.Fields() {
			s, ok := index[f.Name]
			if !ok {
				s = &seen{at: len(out)}
				index[f.Name] = s
				out = append(out, f)
			}
			s.apis = append(s.apis, a.Name)
			if f.Required {
				s.req++
			}
		}
	}
	for _, s := range index {
		f := &out[s.at]
		f.Required = s.req == len(c.apis)
		if len(s.apis) < len(c.apis) {
			sort.Strings(s.apis)
			only := "Only for api " + strings.Join(s.apis, ", ")
			if s.req > 0 {
				only = "Required for api " + strings.Join(s.apis, ", ")
			}
			f.Help = strings.TrimSpace(only + ". " + f.Help)
		}
	}
	return out
}

// BatchSize is the smallest of the APIs' limits, so a claimed batch suits
// whichever API a destination uses.
func (c *APIChoice) BatchSize() int {
	n := 0
	for _, a := range c.apis {
		if b := a.Sender.BatchSize(); n == 0 || b < n {
			n = b
		}
	}
	return n
}

// MaxAge is the longest of the APIs' windows; each API still fails what is
// too old for it.
func (c *APIChoice) MaxAge() time.Duration {
	var m time.Duration
	for _, a := range c.apis {
		m = max(m, a.Sender.MaxAge())
	}
	return m
}

// TestMode is the chosen API's test mode.
func (c *APIChoice) TestMode(d Destination) bool {
	a, err := c.Pick(d)
	return err == nil && a.Sender.TestMode(d)
}

// Render renders through the chosen API.
func (c *APIChoice) Render(d Destination, convs []mapping.Conversion) (Request, error) {
	a, err := c.Pick(d)
	if err != nil {
		return Request{}, err
	}
	return a.Sender.Render(d, convs)
}

// Send sends through the chosen API.
func (c *APIChoice) Send(ctx context.Context, d Destination, convs []mapping.Conversion) []Result {
	a, err := c.Pick(d)
	if err != nil {
		return failAll(len(convs), err)
	}
	return a.Sender.Send(ctx, d, convs)
}

// AdjustsFor reports whether the API a destination uses takes refund
// adjustments (Google's both do; Microsoft's UET Conversions API does not).
func (c *APIChoice) AdjustsFor(d Destination) bool {
	a, err := c.Pick(d)
	if err != nil {
		return false
	}
	_, ok := a.Sender.(Adjuster)
	return ok
}

// Adjust adjusts through the chosen API, when it takes adjustments.
func (c *APIChoice) Adjust(ctx context.Context, d Destination, adjs []Adjustment) []Result {
	a, err := c.Pick(d)
	if err != nil {
		return failAll(len(adjs), err)
	}
	adj, ok := a.Sender.(Adjuster)
	if !ok {
		return failAll(len(adjs), Invalid(0, "not_supported", "refund adjustments are not supported by "+c.platform+" api "+a.Name))
	}
	return adj.Adjust(ctx, d, adjs)
}

// RequestID asks the APIs that follow requests up.
func (c *APIChoice) RequestID(response string) string {
	for _, a := range c.apis {
		if sc, ok := a.Sender.(StatusChecker); ok {
			if id := sc.RequestID(response); id != "" {
				return id
			}
		}
	}
	return ""
}

// RequestStatus asks the chosen API; one that does not follow requests up
// reports them accepted.
func (c *APIChoice) RequestStatus(ctx context.Context, d Destination, requestID string) (PlatformStatus, error) {
	a, err := c.Pick(d)
	if err != nil {
		return PlatformStatus{}, err
	}
	sc, ok := a.Sender.(StatusChecker)
	if !ok {
		return PlatformStatus{State: StatusAccepted, Done: true}, nil
	}
	return sc.RequestStatus(ctx, d, requestID)
}
