package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/postbackhq/postback/delivery"
	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

// testSendTimeout bounds a test event sent while the merchant waits.
const testSendTimeout = 30 * time.Second

// fieldView is one credential or setting in a destination form. A secret
// is never put back into the page: Set only says whether one is stored.
type fieldView struct {
	Key      string // form name: "credentials.<name>" or "settings.<name>"
	Label    string
	Help     string
	Required bool
	Secret   bool
	Bool     bool
	Setting  bool
	Value    string
	Set      bool
	Checked  bool
	Error    string
	// Choices, when set, make the field a select of these values.
	Choices []platforms.Choice
	// Retype marks a secret typed into a refused form: it is not sent
	// back, so the merchant pastes it again.
	Retype bool
}

func fieldKey(f platforms.Field) string {
	if f.Setting {
		return "settings." + f.Name
	}
	return "credentials." + f.Name
}

// buildFields lays out a platform's form from its Fields, with the stored
// values of d, or what was typed when form is set.
func buildFields(sender platforms.Sender, d store.Destination, form *gin.Context, errs map[string]string) []fieldView {
	var out []fieldView
	for _, f := range sender.Fields() {
		stored := d.Credentials[f.Name]
		if f.Setting {
			stored = d.Settings[f.Name]
		}
		label := f.Label
		if label == "" {
			label = f.Name
		}
		fv := fieldView{
			Key: fieldKey(f), Label: label, Help: f.Help, Required: f.Required, Secret: f.Secret, Bool: f.Bool, Setting: f.Setting,
			Set: stored != "", Error: errs[fieldKey(f)], Choices: f.Choices,
		}
		switch {
		case f.Secret:
			fv.Retype = form != nil && form.PostForm(fv.Key) != ""
		case f.Bool && form != nil:
			fv.Checked = form.PostForm(fv.Key) == "true"
		case f.Bool:
			on, err := strconv.ParseBool(stored)
			fv.Checked = err == nil && on
		case form != nil:
			fv.Value = form.PostForm(fv.Key)
		default:
			fv.Value = stored
		}
		if c, ok := f.Pick(fv.Value); ok {
			// A stored alias ("CONSENT_GRANTED") selects its choice.
			fv.Value = c.Value
		}
		out = append(out, fv)
	}
	return out
}

// destinationInputFromForm reads a destination form into the API's input:
// an empty secret keeps the stored one (unless its "forget" box is
// ticked), an empty plain field removes the value, an unticked box turns a
// setting off.
func destinationInputFromForm(c *gin.Context, sender platforms.Sender) destinationInput {
	in := destinationInput{Credentials: map[string]any{}, Settings: map[string]any{}}
	for _, f := range sender.Fields() {
		key := fieldKey(f)
		target := in.Credentials
		if f.Setting {
			target = in.Settings
		}
		switch {
		case f.Bool:
			if c.PostForm(key) == "true" {
				target[f.Name] = "true"
			} else {
				target[f.Name] = nil
			}
		case f.Secret:
			if v := strings.TrimSpace(c.PostForm(key)); v != "" {
				target[f.Name] = v
			} else if c.PostForm("forget."+key) == "true" {
				target[f.Name] = nil
			}
		default:
			target[f.Name] = c.PostForm(key)
		}
	}
	enabled := c.PostForm("enabled") == "true"
	in.Enabled = &enabled
	return in
}

// destinationErrors places a validation error beside its field; missing
// required credentials are each marked.
func destinationErrors(bad *fieldError, d store.Destination, sender platforms.Sender) (map[string]string, string) {
	errs := map[string]string{}
	if bad.Field == "credentials" {
		for _, name := range missingRequired(d, sender.Fields()) {
			errs["credentials."+name] = "Required."
		}
		return errs, bad.Message
	}
	errs[bad.Field] = bad.Detail()
	return errs, ""
}

// testModeSettings names the settings that put a destination of this
// platform in its test mode, found by asking the sender itself.
func testModeSettings(sender platforms.Sender) []string {
	var out []string
	for _, f := range sender.Fields() {
		if !f.Setting {
			continue
		}
		probe := "TEST123"
		if f.Bool {
			probe = "true"
		}
		d := platforms.Destination{Platform: sender.Name(), Credentials: map[string]string{}, Settings: map[string]string{f.Name: probe}}
		if sender.TestMode(d) {
			label := f.Label
			if label == "" {
				label = f.Name
			}
			out = append(out, label)
		}
	}
	return out
}

type destinationPage struct {
	page
	Creating         bool
	Shop             shopView
	Platform         string
	Supported        bool
	Dest             destinationView
	Fields           []fieldView
	Enabled          bool
	Error            string
	TestModeSettings []string
	Test             *testResult
	Platforms        []platformChoice
	Created          bool
	// Quality is our estimate beside the platform's verdict (destination
	// page only).
	Quality      *qualityJSON
	QualityError string
}

// testResult is a test event's outcome as the destination page shows it.
type testResult struct {
	NotTestMode bool
	EventID     string
	StatusCode  int
	Latency     time.Duration
	ErrorClass  string
	Error       string
	Payload     string
	Response    string
	Match       *mapping.Match
	// Problem explains Error: headline, fix, the platform's own words.
	Problem delivery.Explanation
}

func (p destinationPage) CredentialFields() []fieldView { return pick(p.Fields, false) }
func (p destinationPage) SettingFields() []fieldView    { return pick(p.Fields, true) }

func pick(fs []fieldView, settings bool) []fieldView {
	var out []fieldView
	for _, f := range fs {
		if f.Setting == settings {
			out = append(out, f)
		}
	}
	return out
}

// loadDestination reads a destination and its shop for a page.
func loadDestination(c *gin.Context, cfg Config, v *views) (store.Destination, store.Shop, bool) {
	id, ok := uiID(c, v, "This destination")
	if !ok {
		return store.Destination{}, store.Shop{}, false
	}
	ctx := c.Request.Context()
	d, err := cfg.Store.Destination(ctx, id)
	if err != nil {
		v.storeFail(c, err, "This destination")
		return store.Destination{}, store.Shop{}, false
	}
	sh, err := cfg.Store.Shop(ctx, d.ShopID)
	if err != nil {
		v.storeFail(c, err, "This destination's shop")
		return store.Destination{}, store.Shop{}, false
	}
	return d, sh, true
}

func destinationPageFor(c *gin.Context, cfg Config, d store.Destination, sh store.Shop) destinationPage {
	sender := cfg.Senders[d.Platform]
	p := destinationPage{
		page: pageFor(c, platformLabel(d.Platform)+" · "+sh.Name, "shops"), Shop: viewShop(sh, cfg.Now()), Platform: d.Platform,
		Supported: sender != nil, Dest: viewDestination(d, sender, cfg), Enabled: d.Enabled,
		Created: c.Query("msg") == "dest-created",
	}
	if sender != nil {
		p.Fields = buildFields(sender, d, nil, nil)
		p.TestModeSettings = testModeSettings(sender)
	}
	return p
}

func handleUIDestinationNew(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		sh, err := cfg.Store.Shop(c.Request.Context(), id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		platform := c.Query("platform")
		p := destinationPage{
			page: pageFor(c, "Add a destination · "+sh.Name, "shops"), Creating: true, Shop: viewShop(sh, cfg.Now()),
			Platforms: platformChoices(cfg.Senders), Enabled: true,
		}
		if sender := cfg.Senders[platform]; sender != nil {
			p.Platform, p.Supported = platform, true
			p.Fields = buildFields(sender, store.Destination{}, nil, nil)
			p.TestModeSettings = testModeSettings(sender)
		}
		v.render(c, http.StatusOK, "destination", p)
	}
}

func handleUIDestinationCreate(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := uiID(c, v, "This shop")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		sh, err := cfg.Store.Shop(ctx, id)
		if err != nil {
			v.storeFail(c, err, "This shop")
			return
		}
		platform := c.PostForm("platform")
		sender := cfg.Senders[platform]
		if sender == nil {
			v.fail(c, http.StatusUnprocessableEntity, "Unknown platform", "Choose one of: "+strings.Join(platformNames(cfg.Senders), ", ")+".")
			return
		}
		in := destinationInputFromForm(c, sender)
		in.Platform = &platform
		d := store.Destination{ShopID: sh.ID}
		if _, bad := validateDestination(&d, in, cfg.Senders, true); bad != nil {
			errs, msg := destinationErrors(bad, d, sender)
			p := destinationPage{
				page: pageFor(c, "Add a destination · "+sh.Name, "shops"), Creating: true, Shop: viewShop(sh, cfg.Now()),
				Platform: platform, Supported: true, Fields: buildFields(sender, store.Destination{}, c, errs),
				Enabled: *in.Enabled, Error: msg, TestModeSettings: testModeSettings(sender),
			}
			v.render(c, http.StatusUnprocessableEntity, "destination", p)
			return
		}
		d, err = cfg.Store.CreateDestination(ctx, d, cfg.Now())
		if err != nil {
			v.storeFail(c, err, "destination")
			return
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/destinations/%d?msg=dest-created", d.ID))
	}
}

func handleUIDestination(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, sh, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		p := destinationPageFor(c, cfg, d, sh)
		if q, err := destinationQuality(c.Request.Context(), cfg, d); err == nil {
			p.Quality = &q
		} else {
			cfg.Log.WarnContext(c.Request.Context(), "destination quality", slog.Int64("destination_id", d.ID), slog.String("error", err.Error()))
		}
		if c.Query("msg") == "quality-failed" {
			p.QualityError = "The platform did not answer; try again later."
		}
		v.render(c, http.StatusOK, "destination", p)
	}
}

func handleUIDestinationSave(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, sh, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		sender := cfg.Senders[d.Platform]
		if sender == nil {
			v.fail(c, http.StatusUnprocessableEntity, "Platform not supported", "Platform "+d.Platform+" is not supported by this version of Postback.")
			return
		}
		next := d
		next.Credentials, next.Settings = maps.Clone(d.Credentials), maps.Clone(d.Settings)
		changed, bad := validateDestination(&next, destinationInputFromForm(c, sender), cfg.Senders, false)
		if bad != nil {
			errs, msg := destinationErrors(bad, next, sender)
			p := destinationPageFor(c, cfg, d, sh)
			p.Fields, p.Enabled, p.Error = buildFields(sender, d, c, errs), c.PostForm("enabled") == "true", msg
			v.render(c, http.StatusUnprocessableEntity, "destination", p)
			return
		}
		if _, err := cfg.Store.UpdateDestination(c.Request.Context(), next, changed, cfg.Now()); err != nil {
			v.storeFail(c, err, "This destination")
			return
		}
		// Saving retries a parked or paused destination at once.
		cfg.Notify()
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/destinations/%d?msg=dest-saved", d.ID))
	}
}

func handleUIDestinationToggle(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, _, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		d.Enabled = !d.Enabled
		if _, err := cfg.Store.UpdateDestination(c.Request.Context(), d, false, cfg.Now()); err != nil {
			v.storeFail(c, err, "This destination")
			return
		}
		msg := "dest-disabled"
		if d.Enabled {
			msg = "dest-enabled"
			cfg.Notify()
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/shops/%d?msg=%s", d.ShopID, msg))
	}
}

func handleUIDestinationDelete(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, _, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		if err := cfg.Store.DeleteDestination(c.Request.Context(), d.ID); err != nil {
			v.storeFail(c, err, "This destination")
			return
		}
		c.Redirect(http.StatusSeeOther, fmt.Sprintf("/admin/shops/%d?msg=dest-deleted", d.ShopID))
	}
}

// handleUIDestinationTest sends a sample order through the platform's
// real sender and shows the answer. It sends only to a destination in the
// platform's test mode: senders have no switch to force one, and a sample
// order must never count as a sale in a live ad account.
func handleUIDestinationTest(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, sh, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		sender := cfg.Senders[d.Platform]
		if sender == nil {
			v.fail(c, http.StatusUnprocessableEntity, "Platform not supported", "Platform "+d.Platform+" is not supported by this version of Postback.")
			return
		}
		p := destinationPageFor(c, cfg, d, sh)
		pd := toPlatformDestination(d)
		if !sender.TestMode(pd) {
			p.Test = &testResult{NotTestMode: true}
			v.render(c, http.StatusConflict, "destination", p)
			return
		}
		conv := SampleConversion(cfg.Now())
		ctx, cancel := context.WithTimeout(c.Request.Context(), testSendTimeout)
		defer cancel()
		start := time.Now()
		results := sender.Send(ctx, pd, []mapping.Conversion{conv})
		p.Test = &testResult{EventID: conv.EventID, Latency: time.Since(start)}
		if len(results) == 0 {
			p.Test.ErrorClass, p.Test.Error = "transient", "the sender returned no result"
		} else {
			r := results[0]
			m := r.Match
			p.Test.StatusCode, p.Test.Match = r.StatusCode, &m
			p.Test.Payload, p.Test.Response = prettyJSON(string(r.Payload)), prettyJSON(r.Response)
			if r.Err != nil {
				p.Test.ErrorClass, p.Test.Error = errorClass(r.Err), r.Err.Error()
			}
		}
		if p.Test.Error != "" {
			status := store.DeliveryFailed
			if p.Test.ErrorClass == "invalid" && p.Test.StatusCode == 0 {
				status = store.DeliverySkipped // refused before sending
			}
			p.Test.Problem = delivery.Explain(d.Platform, status, p.Test.ErrorClass, p.Test.Error)
		}
		v.render(c, http.StatusOK, "destination", p)
	}
}

// errorClass names a delivery failure's class as the delivery worker
// records it.
func errorClass(err error) string {
	switch {
	case errors.Is(err, platforms.ErrThrottled):
		return "throttled"
	case errors.Is(err, platforms.ErrAuth):
		return "auth"
	case errors.Is(err, platforms.ErrInvalid):
		return "invalid"
	case errors.Is(err, platforms.ErrTransient):
		return "transient"
	}
	return "error"
}

type dryRunPage struct {
	page
	Shop     shopView
	Dest     destinationView
	EventID  int64
	Sample   bool
	Request  *platforms.Request
	Headers  []header
	Body     string
	Error    string
	Events   []store.Event
	Platform string
}

type header struct{ Name, Value string }

// handleUIDestinationDryRun shows the exact request the destination would
// get for an event, or for a sample order, without sending it.
func handleUIDestinationDryRun(cfg Config, v *views) gin.HandlerFunc {
	return func(c *gin.Context) {
		d, sh, ok := loadDestination(c, cfg, v)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		sender := cfg.Senders[d.Platform]
		if sender == nil {
			v.fail(c, http.StatusUnprocessableEntity, "Platform not supported", "Platform "+d.Platform+" is not supported by this version of Postback.")
			return
		}
		p := dryRunPage{
			page: pageFor(c, "Dry run · "+platformLabel(d.Platform), "shops"), Shop: viewShop(sh, cfg.Now()),
			Dest: viewDestination(d, sender, cfg), Sample: true, Platform: d.Platform,
		}
		recent, err := cfg.Store.Events(ctx, store.EventFilter{ShopID: sh.ID, Status: store.StatusAccepted, Limit: 10})
		if err != nil {
			v.storeFail(c, err, "events")
			return
		}
		p.Events = recent
		conv := SampleConversion(cfg.Now())
		status := http.StatusOK
		if raw := c.Query("event_id"); raw != "" {
			id, err := parseID(raw)
			if err != nil {
				v.notFound(c, "This event")
				return
			}
			ev, err := cfg.Store.Event(ctx, id)
			if err != nil {
				v.storeFail(c, err, "This event")
				return
			}
			p.EventID, p.Sample = id, false
			if ev.ShopID != d.ShopID || ev.Conversion == nil {
				p.Error = fmt.Sprintf("Event %d is not a conversion of %s.", id, sh.Name)
				v.render(c, http.StatusUnprocessableEntity, "dry_run", p)
				return
			}
			conv = *ev.Conversion
		}
		req, err := sender.Render(toPlatformDestination(d), []mapping.Conversion{conv})
		if err != nil {
			p.Error, status = "Cannot build the request: "+err.Error(), http.StatusUnprocessableEntity
		} else {
			p.Request, p.Body = &req, prettyJSON(string(req.Body))
			for _, k := range slices.Sorted(maps.Keys(req.Header)) {
				p.Headers = append(p.Headers, header{k, req.Header[k]})
			}
		}
		v.render(c, status, "dry_run", p)
	}
}
