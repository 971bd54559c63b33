package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"github.com/postbackhq/postback/mapping"
	"github.com/postbackhq/postback/platforms"
	"github.com/postbackhq/postback/store"
)

type destinationJSON struct {
	ID             int64             `json:"id"`
	ShopID         int64             `json:"shop_id"`
	Platform       string            `json:"platform"`
	Enabled        bool              `json:"enabled"`
	Settings       map[string]string `json:"settings"`
	CredentialsSet []string          `json:"credentials_set"`
	TestMode       bool              `json:"test_mode"`
	// Status is "ok", or "needs_credentials" after the platform refused
	// them (deliveries wait), or "throttled", or "credentials_unreadable"
	// when the stored credentials cannot be decrypted (the reason says
	// why: another key, corrupted).
	Status         string  `json:"status"`
	StatusReason   string  `json:"status_reason,omitempty"`
	ThrottledUntil *string `json:"throttled_until"`
	// APIVersion is the platform API version the destination speaks and
	// when the platform stops serving it.
	APIVersion apiVersionJSON `json:"api_version"`
	// Warnings are things the merchant must act on before they stop
	// deliveries (an API version near or past its end); empty when none.
	Warnings  []string `json:"warnings"`
	CreatedAt *string  `json:"created_at"`
	UpdatedAt *string  `json:"updated_at"`
}

type apiVersionJSON struct {
	Version string `json:"version"`
	Pinned  bool   `json:"pinned"`
	// EndsOn is the first day the platform no longer serves the version
	// (YYYY-MM-DD), null when none is announced.
	EndsOn   *string `json:"ends_on"`
	DaysLeft *int    `json:"days_left"`
}

// versionJSON is a destination's API version as the API shows it.
func versionJSON(s platforms.VersionStatus) apiVersionJSON {
	out := apiVersionJSON{Version: s.Version, Pinned: s.Pinned}
	if s.Known() {
		ends, days := s.Ends.Format(time.DateOnly), s.DaysLeft
		out.EndsOn, out.DaysLeft = &ends, &days
	}
	return out
}

type destinationInput struct {
	Platform    *string        `json:"platform"`
	Credentials map[string]any `json:"credentials"`
	Settings    map[string]any `json:"settings"`
	Enabled     *bool          `json:"enabled"`
}

func toDestinationJSON(d store.Destination, sender platforms.Sender, now time.Time) destinationJSON {
	set := make([]string, 0, len(d.Credentials))
	for k, v := range d.Credentials {
		if v != "" {
			set = append(set, k)
		}
	}
	sort.Strings(set)
	out := destinationJSON{
		ID: d.ID, ShopID: d.ShopID, Platform: d.Platform, Enabled: d.Enabled, Settings: d.Settings,
		CredentialsSet: set, Status: "ok", CreatedAt: timeOrNil(d.CreatedAt), UpdatedAt: timeOrNil(d.UpdatedAt),
	}
	if sender != nil {
		out.TestMode = sender.TestMode(toPlatformDestination(d))
	}
	vs := platforms.VersionOf(d.Platform, d.Settings, now)
	out.APIVersion, out.Warnings = versionJSON(vs), []string{}
	if vs.Warning != "" {
		out.Warnings = append(out.Warnings, vs.Warning)
	}
	switch {
	case d.SealError != "":
		out.Status, out.StatusReason = "credentials_unreadable", d.SealError
	case !d.AuthFailedAt.IsZero():
		out.Status, out.StatusReason = "needs_credentials", d.AuthError
	case d.ThrottledUntil.After(now):
		out.Status, out.ThrottledUntil = "throttled", timeOrNil(d.ThrottledUntil)
	}
	return out
}

func toPlatformDestination(d store.Destination) platforms.Destination {
	return platforms.Destination{ID: d.ID, ShopID: d.ShopID, Platform: d.Platform, Credentials: d.Credentials, Settings: d.Settings}
}

// mergeFields validates given credentials or settings against a platform's
// fields and merges them into into; "" or null removes a value.
func mergeFields(into map[string]string, given map[string]any, fields []platforms.Field, settings bool) (bool, *fieldError) {
	what := "credentials"
	if settings {
		what = "settings"
	}
	known := map[string]platforms.Field{}
	for _, f := range fields {
		if f.Setting == settings {
			known[f.Name] = f
		}
	}
	changed := false
	for k, raw := range given {
		f, ok := known[k]
		if !ok {
			return false, badField(what+"."+k, "is not a field of this platform (known: "+strings.Join(fieldNames(known), ", ")+")")
		}
		var v string
		switch x := raw.(type) {
		case nil:
		case string:
			v = strings.TrimSpace(x)
		case bool:
			v = strconv.FormatBool(x)
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case json.Number:
			v = x.String()
		default:
			return false, badField(what+"."+k, "must be a string")
		}
		if f.Bool && v != "" && v != "true" && v != "false" {
			return false, badField(what+"."+k, "must be true or false")
		}
		if len(f.Choices) > 0 {
			c, ok := f.Pick(v)
			if !ok {
				return false, badField(what+"."+k, "must be one of "+choiceList(f.Choices))
			}
			v = c.Value
		}
		if len(v) > 4096 {
			return false, badField(what+"."+k, "is too long")
		}
		if into[k] != v {
			changed = true
		}
		if v == "" {
			delete(into, k)
		} else {
			into[k] = v
		}
	}
	return changed, nil
}

// choiceList says a field's choices: "GRANTED, DENIED or empty".
func choiceList(cs []platforms.Choice) string {
	var vals []string
	empty := false
	for _, c := range cs {
		if c.Value == "" {
			empty = true
			continue
		}
		vals = append(vals, c.Value)
	}
	if empty {
		vals = append(vals, "empty")
	}
	if len(vals) < 2 {
		return strings.Join(vals, "")
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

func fieldNames(m map[string]platforms.Field) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// missingRequired names the required credentials not set.
func missingRequired(d store.Destination, fields []platforms.Field) []string {
	var missing []string
	for _, f := range fields {
		if f.Required && !f.Setting && d.Credentials[f.Name] == "" {
			missing = append(missing, f.Name)
		}
	}
	return missing
}

// platformNames lists the configured platforms, sorted.
func platformNames(senders map[string]platforms.Sender) []string {
	out := make([]string, 0, len(senders))
	for k := range senders {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validateDestination applies in to d and returns what is invalid, or nil.
// The API and the admin UI share it.
func validateDestination(d *store.Destination, in destinationInput, senders map[string]platforms.Sender, creating bool) (credsChanged bool, bad *fieldError) {
	if creating {
		if in.Platform == nil || senders[*in.Platform] == nil {
			return false, badField("platform", "must be one of "+strings.Join(platformNames(senders), ", "))
		}
		d.Platform = *in.Platform
		d.Enabled = true
	} else if in.Platform != nil && *in.Platform != d.Platform {
		return false, badField("platform", "cannot be changed; add another destination")
	}
	fields := senders[d.Platform].Fields()
	if d.Credentials == nil {
		d.Credentials = map[string]string{}
	}
	if d.Settings == nil {
		d.Settings = map[string]string{}
	}
	credsChanged, bad = mergeFields(d.Credentials, in.Credentials, fields, false)
	if bad != nil {
		return false, bad
	}
	version := d.Settings["api_version"]
	if _, bad = mergeFields(d.Settings, in.Settings, fields, true); bad != nil {
		return false, bad
	}
	// A destination parked because the platform stopped serving its API
	// version is released by changing the version, as by new credentials.
	credsChanged = credsChanged || d.Settings["api_version"] != version
	if in.Enabled != nil {
		d.Enabled = *in.Enabled
	}
	if missing := missingRequired(*d, fields); len(missing) > 0 {
		return false, &fieldError{Field: "credentials", Message: "missing credentials for " + d.Platform + ": " + strings.Join(missing, ", ")}
	}
	// Each sender checks the shape of its configuration when it builds a
	// request (an api_version of the wrong form, both of Reddit's ids);
	// render a sample now, so a mistake is refused on save rather than
	// parking the destination at its first send.
	if _, err := senders[d.Platform].Render(toPlatformDestination(*d), []mapping.Conversion{SampleConversion(time.Now())}); err != nil && errors.Is(err, platforms.ErrAuth) {
		return false, &fieldError{Field: configField(configMessage(err), fields), Message: d.Platform + " configuration is not valid: " + configMessage(err)}
	}
	return credsChanged, nil
}

// configField is the field a sender's configuration message is about: the
// senders start such messages with the field's name ("customer_id must be
// …"); "credentials" when it names none.
func configField(msg string, fields []platforms.Field) string {
	name, _, _ := strings.Cut(msg, " ")
	for _, f := range fields {
		if f.Name != name {
			continue
		}
		if f.Setting {
			return "settings." + name
		}
		return "credentials." + name
	}
	return "credentials"
}

// configMessage is a configuration error's own message, without the class
// prefix meant for delivery logs.
func configMessage(err error) string {
	var pe *platforms.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

func handleDestinationCreate(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		shopID, ok := idParam(c, "id")
		if !ok {
			return
		}
		var in destinationInput
		if !bindJSON(c, &in) {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, shopID); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		d := store.Destination{ShopID: shopID}
		if _, bad := validateDestination(&d, in, cfg.Senders, true); bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		d, err := cfg.Store.CreateDestination(ctx, d, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		c.JSON(http.StatusCreated, toDestinationJSON(d, cfg.Senders[d.Platform], cfg.Now()))
	}
}

func handleDestinationList(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		shopID, ok := idParam(c, "id")
		if !ok {
			return
		}
		ctx := c.Request.Context()
		if _, err := cfg.Store.Shop(ctx, shopID); err != nil {
			storeError(c, cfg.Log, err, "shop")
			return
		}
		ds, err := cfg.Store.Destinations(ctx, shopID)
		if err != nil {
			storeError(c, cfg.Log, err, "destinations")
			return
		}
		out := make([]destinationJSON, 0, len(ds))
		for _, d := range ds {
			out = append(out, toDestinationJSON(d, cfg.Senders[d.Platform], cfg.Now()))
		}
		c.JSON(http.StatusOK, gin.H{"destinations": out})
	}
}

func handleDestinationGet(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		d, err := cfg.Store.DestinationForEdit(c.Request.Context(), id)
		if err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		c.JSON(http.StatusOK, toDestinationJSON(d, cfg.Senders[d.Platform], cfg.Now()))
	}
}

func handleDestinationUpdate(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		var in destinationInput
		if !bindJSON(c, &in) {
			return
		}
		ctx := c.Request.Context()
		// Credentials that cannot be decrypted can still be replaced.
		d, err := cfg.Store.DestinationForEdit(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		if d.SealError != "" && in.Credentials == nil {
			jsonError(c, http.StatusConflict, "destination "+d.SealError+"; send its credentials again")
			return
		}
		if cfg.Senders[d.Platform] == nil {
			jsonError(c, http.StatusUnprocessableEntity, "platform "+d.Platform+" is not supported by this version")
			return
		}
		changed, bad := validateDestination(&d, in, cfg.Senders, false)
		if bad != nil {
			jsonError(c, http.StatusUnprocessableEntity, bad.Error())
			return
		}
		d, err = cfg.Store.UpdateDestination(ctx, d, changed, cfg.Now())
		if err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		// Saving retries a parked or paused destination at once.
		cfg.Notify()
		c.JSON(http.StatusOK, toDestinationJSON(d, cfg.Senders[d.Platform], cfg.Now()))
	}
}

func handleDestinationDelete(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		if err := cfg.Store.DeleteDestination(c.Request.Context(), id); err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// handleDestinationDryRun renders the exact request the destination would
// receive for an event (or for a sample order), without sending it.
func handleDestinationDryRun(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		var in struct {
			EventID int64 `json:"event_id"`
		}
		if c.Request.ContentLength != 0 && !bindJSON(c, &in) {
			return
		}
		ctx := c.Request.Context()
		d, err := cfg.Store.Destination(ctx, id)
		if err != nil {
			storeError(c, cfg.Log, err, "destination")
			return
		}
		sender := cfg.Senders[d.Platform]
		if sender == nil {
			jsonError(c, http.StatusUnprocessableEntity, "platform "+d.Platform+" is not supported by this version")
			return
		}
		conv := SampleConversion(cfg.Now())
		if in.EventID != 0 {
			ev, err := cfg.Store.Event(ctx, in.EventID)
			if err != nil {
				storeError(c, cfg.Log, err, "event")
				return
			}
			if ev.ShopID != d.ShopID || ev.Conversion == nil {
				jsonError(c, http.StatusUnprocessableEntity, "event is not a conversion of this destination's shop")
				return
			}
			conv = *ev.Conversion
		}
		req, err := sender.Render(toPlatformDestination(d), []mapping.Conversion{conv})
		if err != nil {
			jsonError(c, http.StatusUnprocessableEntity, "cannot render request: "+err.Error())
			return
		}
		c.JSON(http.StatusOK, gin.H{"request": req, "sample": in.EventID == 0})
	}
}

// SampleConversion is a synthetic order used for dry runs and test events.
func SampleConversion(now time.Time) mapping.Conversion {
	id := "postback-test-" + strconv.FormatInt(now.Unix(), 10)
	return mapping.Conversion{
		EventID: id, EventName: mapping.EventPurchase, EventTime: now.UTC().Add(-time.Minute), OrderID: id,
		OrderName: "#TEST", Value: decimal.RequireFromString("42.00"), Currency: "USD",
		Items:    []mapping.Item{{ID: "sample-product", Title: "Sample product", Quantity: 1, Price: decimal.RequireFromString("42.00")}},
		ClickIDs: mapping.ClickIDs{FBCLID: "PostbackTestClickID", GCLID: "PostbackTestGCLID"},
		ClientIP: "203.0.113.10", UserAgent: "Mozilla/5.0 (Postback test event)",
		SourceURL: "https://example.com/checkout/thank-you", Test: true,
		User: mapping.User{Email: "test@example.com", Phone: "+12025550123", FirstName: "Test", LastName: "Buyer",
			City: "Washington", State: "DC", Zip: "20001", Country: "US", ExternalID: "postback-test-customer"},
	}
}
