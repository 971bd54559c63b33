package platforms

import (
	"fmt"
	"strings"
	"time"
)

// APIVersion is one platform API version Postback knows the end of.
type APIVersion struct {
	Platform string
	// API is the platform's API (settings.api) the version belongs to, for
	// platforms with more than one; "" for the others.
	API string
	// Version is written as the destination's api_version setting takes it
	// (or as the path carries it for platforms without that setting).
	Version string
	// Default marks the version Postback speaks when a destination pins
	// none.
	Default bool
	// Ends is the first day the platform no longer serves the version;
	// zero when the platform has announced no end.
	Ends time.Time
	// Source is where the version and its end were read, and when.
	Source string
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		// The table is a constant: a bad date is a programming error the
		// version tests catch.
		return time.Time{}
	}
	return t
}

// Versions is the live API version table, read 2026-12-03. Each platform has
// exactly one default; older versions are listed when their end is
// announced, so that a destination pinning one is warned in time.
var Versions = []APIVersion{
	// Meta: the Conversions API is part of the Marketing API, whose version
	// table differs from the Graph API's. Source: Meta for Developers,
	// "Marketing API version history"
	// (developers.facebook.com/documentation/ads-commerce/marketing-api/marketing-api-changelog/versions),
	// read 2026-12-03: v27.0 released 2026-11-04 (expiration TBD), v26.0
	// 2026-07-29 (TBD), v25.0 expires 2027-02-23, v24.0 2026-11-10, v23.0
	// 2026-06-09, v22.0 2026-02-19.
	{Platform: "meta", Version: "v27.0", Default: true, Source: metaVersionSource},
	{Platform: "meta", Version: "v26.0", Source: metaVersionSource},
	{Platform: "meta", Version: "v25.0", Ends: day("2027-02-23"), Source: metaVersionSource},
	{Platform: "meta", Version: "v24.0", Ends: day("2026-11-10"), Source: metaVersionSource},
	{Platform: "meta", Version: "v23.0", Ends: day("2026-06-09"), Source: metaVersionSource},
	{Platform: "meta", Version: "v22.0", Ends: day("2026-02-19"), Source: metaVersionSource},

	// LinkedIn: monthly versions, each served at least a year. Source:
	// Microsoft Learn, LinkedIn Marketing "Versioning" and "Migrations"
	// (learn.microsoft.com/linkedin/marketing/versioning,
	// .../integrations/migrations), read 2026-12-03: newest version found
	// 202607 (July 2026); 202603 sunsets 2027-03-16, 202602 2027-02-15,
	// 202601 2027-01-15, 202511 2026-11-16, 202510 2026-10-15. 202607's
	// exact date is not yet in the migrations table; a year after release,
	// on LinkedIn's usual mid-month day, is assumed.
	{Platform: "linkedin", Version: "202607", Default: true, Ends: day("2027-07-15"), Source: linkedinVersionSource},
	{Platform: "linkedin", Version: "202603", Ends: day("2027-03-16"), Source: linkedinVersionSource},
	{Platform: "linkedin", Version: "202602", Ends: day("2027-02-15"), Source: linkedinVersionSource},
	{Platform: "linkedin", Version: "202601", Ends: day("2027-01-15"), Source: linkedinVersionSource},
	{Platform: "linkedin", Version: "202511", Ends: day("2026-11-16"), Source: linkedinVersionSource},
	{Platform: "linkedin", Version: "202510", Ends: day("2026-10-15"), Source: linkedinVersionSource},

	// Google Ads through Data Manager (settings.api data_manager, the
	// default). Source: Data Manager API release notes
	// (developers.google.com/data-manager/api/reference, "Release notes"),
	// read 2026-12-03: v1 generally available since 2025-10-06 (v1.3),
	// minor releases within v1 since (v1.5 2026-02-17, v1.6 2026-05-07);
	// no end announced.
	{Platform: "google_ads", API: "data_manager", Version: "v1", Default: true,
		Source: "Google Data Manager API release notes, read 2026-12-03: v1 GA 2025-10-06, v1.6 2026-05-07, no end announced"},

	// Google Ads API (settings.api google_ads_api, uploadClickConversions).
	// Source: Google Ads API "Deprecation and sunset" and the Google Ads
	// Developer Blog sunset reminders, read 2026-12-03: major versions live
	// about 12 months; v22 sunset 2026-10-07 (reminder 2026-09-02), v21
	// 2026-08-05 (2026-06-25), v20 2026-06-10 (2026-04-29); v26 is the latest
	// active version and has no announced sunset.
	{Platform: "google_ads", API: "google_ads_api", Version: "v26", Default: true, Source: googleVersionSource},
	{Platform: "google_ads", API: "google_ads_api", Version: "v22", Ends: day("2026-10-07"), Source: googleVersionSource},
	{Platform: "google_ads", API: "google_ads_api", Version: "v21", Ends: day("2026-08-05"), Source: googleVersionSource},
	{Platform: "google_ads", API: "google_ads_api", Version: "v20", Ends: day("2026-06-10"), Source: googleVersionSource},

	// Microsoft Advertising offline conversions (settings.api
	// offline_conversions): Campaign Management API v13. Source: Microsoft
	// Learn, ApplyOfflineConversions (view=bingads-13), and the Bing Ads API
	// blog, read 2026-12-03: v13 generally available since 2019-04-23, no
	// successor or sunset announced. What is retired is the SOAP transport
	// (new features REST-only from 2026-10-01, SOAP off 2027-01-31, as
	// reported by a third-party review; Postback already speaks REST JSON).
	{Platform: "microsoft", API: "offline_conversions", Version: "v13", Default: true,
		Source: "Microsoft Learn, Campaign Management API v13 ApplyOfflineConversions, read 2026-12-03: v13 GA since 2019, no sunset announced"},

	// The others version their path and have announced no end.
	{Platform: "tiktok", Version: "v1.3", Default: true,
		Source: "TikTok for Business, Events API 2.0 reference (/open_api/v1.3/event/track/), read 2026-12-03: no end announced"},
	{Platform: "reddit", Version: "v3", Default: true,
		Source: "Reddit Ads API, Conversions API v3 migration guide, read 2026-12-03: v3 current, v2.0 legacy, no end announced"},
	{Platform: "pinterest", Version: "v5", Default: true,
		Source: "Pinterest API v5 reference (developers.pinterest.com/docs/api/v5/), read 2026-12-03: no end announced"},
	{Platform: "snapchat", Version: "v3", Default: true,
		Source: "Snap Marketing API, Conversions API v3 (tr.snapchat.com/v3), read 2026-12-03: no end announced"},
	{Platform: "microsoft", API: "uet_capi", Version: "v1", Default: true,
		Source: "Microsoft Advertising, UET Conversions API integration guide (capi.uet.microsoft.com/v1), read 2026-12-03: no end announced"},
}

const (
	metaVersionSource     = "Meta for Developers, Marketing API version history, read 2026-12-03"
	linkedinVersionSource = "Microsoft Learn, LinkedIn Marketing API versioning and migrations, read 2026-12-03"
	googleVersionSource   = "Google Ads API deprecation and sunset page and Developer Blog sunset reminders, read 2026-12-03"
)

// VersionWarnDays is how long before a version's end a destination using
// it is warned.
const VersionWarnDays = 60

// defaultAPI is the API a destination of a platform with several speaks
// when its settings.api is empty (cmd/postback lists it first).
var defaultAPI = map[string]string{"google_ads": "data_manager", "microsoft": "uet_capi"}

// apiOf is the API a destination with these settings speaks; "" for a
// platform with one API.
func apiOf(platform string, settings map[string]string) string {
	if _, several := defaultAPI[platform]; !several {
		return ""
	}
	if a := strings.TrimSpace(settings["api"]); a != "" {
		return a
	}
	return defaultAPI[platform]
}

// DefaultVersion is the API version Postback speaks to platform (its
// default API) when a destination pins none ("" for an unknown platform).
func DefaultVersion(platform string) string {
	return defaultVersion(platform, defaultAPI[platform])
}

func defaultVersion(platform, api string) string {
	for _, v := range Versions {
		if v.Platform == platform && v.API == api && v.Default {
			return v.Version
		}
	}
	return ""
}

// versionSetting is the name of the setting a destination pins its
// version with, on the platforms (and APIs) that have one.
var versionSetting = map[[2]string]string{
	{"meta", ""}: "api_version", {"linkedin", ""}: "api_version", {"google_ads", "google_ads_api"}: "api_version",
}

// VersionStatus is the API version a destination speaks and how long the
// platform still serves it.
type VersionStatus struct {
	Platform string
	Version  string
	// Pinned reports whether the destination set the version itself.
	Pinned bool
	// Ends is the version's end; zero when none is announced or the
	// version is not in the table.
	Ends time.Time
	// DaysLeft is whole days from now to Ends (negative once past);
	// meaningful only when Ends is set.
	DaysLeft int
	// Warning says what to do, for a version within VersionWarnDays of its
	// end or past it; "" otherwise.
	Warning string
}

// Known reports whether the version's end is known.
func (s VersionStatus) Known() bool { return !s.Ends.IsZero() }

// VersionOf reports the version a destination of platform with these
// settings speaks, and warns when it ends within VersionWarnDays or has
// ended. It never changes the version: the merchant does.
func VersionOf(platform string, settings map[string]string, now time.Time) VersionStatus {
	api := apiOf(platform, settings)
	s := VersionStatus{Platform: platform, Version: defaultVersion(platform, api)}
	if name, ok := versionSetting[[2]string{platform, api}]; ok {
		if v := strings.TrimSpace(settings[name]); v != "" {
			s.Version, s.Pinned = v, true
		}
	}
	for _, v := range Versions {
		if v.Platform == platform && v.API == api && v.Version == s.Version {
			s.Ends = v.Ends
		}
	}
	if !s.Known() {
		return s
	}
	s.DaysLeft = int(s.Ends.Sub(now).Hours() / 24)
	if s.Ends.Sub(now) < 0 && s.DaysLeft == 0 {
		s.DaysLeft = -1
	}
	fix := "clear the api_version setting to use " + defaultVersion(platform, api)
	if !s.Pinned {
		fix = "upgrade Postback, or set api_version to a newer version"
	}
	switch {
	case !now.Before(s.Ends):
		s.Warning = fmt.Sprintf("%s API version %s stopped working on %s; %s. Events wait until it is changed.",
			platformTitle(platform), s.Version, s.Ends.Format(time.DateOnly), fix)
	case s.DaysLeft < VersionWarnDays:
		s.Warning = fmt.Sprintf("%s API version %s stops working on %s (%d days left); %s.",
			platformTitle(platform), s.Version, s.Ends.Format(time.DateOnly), s.DaysLeft, fix)
	}
	return s
}

// VersionError is the configuration failure for a version the platform no
// longer serves: it parks the destination (ErrAuth) so its events wait,
// and names the version and the fix.
func VersionError(platform string, status int, code, version string) *Error {
	fix := "set api_version to " + DefaultVersion(platform) + " or clear it"
	if code != "" {
		code = " (" + platformTitle(platform) + " code " + code + ")"
	}
	return Auth(status, CodeVersionSunset, fmt.Sprintf("%s no longer serves API version %s%s; %s. Events wait until it is changed.",
		platformTitle(platform), version, code, fix))
}

// CodeVersionSunset is the Code of a VersionError: the destination waits
// for its api_version to change, not for new credentials.
const CodeVersionSunset = "api_version_sunset"

func platformTitle(platform string) string {
	switch platform {
	case "meta":
		return "Meta"
	case "linkedin":
		return "LinkedIn"
	case "google_ads":
		return "Google Ads"
	case "tiktok":
		return "TikTok"
	}
	if platform == "" {
		return ""
	}
	return strings.ToUpper(platform[:1]) + platform[1:]
}
