package platforms

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVersionsTable(t *testing.T) {
	defaults := map[string]int{}
	for _, v := range Versions {
		if v.Default {
			defaults[strings.TrimSuffix(v.Platform+"/"+v.API, "/")]++
			// Every default must be served for at least the warning window
			// from the day the table was read.
			read := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
			if !v.Ends.IsZero() && v.Ends.Sub(read) < VersionWarnDays*24*time.Hour {
				t.Errorf("%s default %s ends %s, inside the %d-day window", v.Platform, v.Version, v.Ends.Format(time.DateOnly), VersionWarnDays)
			}
		}
		if v.Source == "" {
			t.Errorf("%s %s has no source", v.Platform, v.Version)
		}
	}
	for _, p := range []string{"meta", "google_ads/data_manager", "google_ads/google_ads_api", "tiktok", "reddit", "linkedin",
		"microsoft/uet_capi", "microsoft/offline_conversions", "pinterest", "snapchat"} {
		if defaults[p] != 1 {
			t.Errorf("%s has %d defaults, want 1", p, defaults[p])
		}
	}
	// The senders speak the table's defaults.
	for platform, got := range map[[2]string]string{
		{"meta", ""}: metaVersion, {"linkedin", ""}: linkedinDefaultVersion, {"google_ads", "google_ads_api"}: googleDefaultAPIVersion,
	} {
		if want := defaultVersion(platform[0], platform[1]); got != want {
			t.Errorf("%s sender speaks %s, table says %s", platform, got, want)
		}
	}
}

func TestVersionOf(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		platform string
		settings map[string]string
		version  string
		pinned   bool
		warn     string // substring; "" means no warning
		daysLeft int
	}{
		{"meta default", "meta", nil, "v27.0", false, "", 0},
		{"meta pinned far from its end", "meta", map[string]string{"api_version": "v26.0"}, "v26.0", true, "", 0},
		{"meta pinned inside 60 days", "meta", map[string]string{"api_version": " v25.0 "}, "v25.0", true, "stops working on 2027-02-23 (81 days left)", 81},
		{"linkedin pinned past its end", "linkedin", map[string]string{"api_version": "202511"}, "202511", true, "stopped working on 2026-11-16", -17},
		{"linkedin inside 60 days", "linkedin", map[string]string{"api_version": "202601"}, "202601", true, "(42 days left)", 42},
		{"google ads api past its end", "google_ads", map[string]string{"api": "google_ads_api", "api_version": "v22"}, "v22", true, "Events wait", -57},
		{"google ads api default", "google_ads", map[string]string{"api": "google_ads_api"}, "v26", false, "", 0},
		{"google data manager ignores api_version", "google_ads", map[string]string{"api_version": "v22"}, "v1", false, "", 0},
		{"microsoft default is the conversions api", "microsoft", nil, "v1", false, "", 0},
		{"microsoft offline conversions", "microsoft", map[string]string{"api": "offline_conversions"}, "v13", false, "", 0},
		{"tiktok has no version setting", "tiktok", map[string]string{"api_version": "v9"}, "v1.3", false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := VersionOf(tt.platform, tt.settings, now)
			if s.Version != tt.version || s.Pinned != tt.pinned {
				t.Errorf("VersionOf = %s pinned %v, want %s pinned %v", s.Version, s.Pinned, tt.version, tt.pinned)
			}
			// v25.0 is 81 days out: no warning yet.
			if tt.warn == "" || s.DaysLeft >= VersionWarnDays {
				if tt.warn != "" && s.Warning != "" {
					t.Errorf("Warning = %q with %d days left", s.Warning, s.DaysLeft)
				}
				if tt.warn == "" && s.Warning != "" {
					t.Errorf("Warning = %q, want none", s.Warning)
				}
				return
			}
			if !strings.Contains(s.Warning, tt.warn) || s.DaysLeft != tt.daysLeft {
				t.Errorf("Warning = %q, DaysLeft = %d; want %q, %d", s.Warning, s.DaysLeft, tt.warn, tt.daysLeft)
			}
		})
	}
}

func TestVersionErrorParks(t *testing.T) {
	err := VersionError("meta", 400, "2635", "v22.0")
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "v22.0") || !strings.Contains(err.Error(), "api_version") {
		t.Errorf("VersionError = %v; want ErrAuth naming the version and the setting", err)
	}
}
