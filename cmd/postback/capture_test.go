package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestBeaconHoldConfig(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 15 * time.Second, true},
		{"0", 0, true},
		{"2s", 2 * time.Second, true},
		{"10m", 10 * time.Minute, true},
		{"11m", 0, false},
		{"-1s", 0, false},
		{"soon", 0, false},
	} {
		cfg, err := parseConfig(nil, func(k string) string {
			if k == "POSTBACK_BEACON_HOLD" {
				return tc.value
			}
			return ""
		}, io.Discard)
		switch {
		case tc.ok && (err != nil || cfg.BeaconHold != tc.want):
			t.Errorf("POSTBACK_BEACON_HOLD=%q: %v, %v; want %v", tc.value, cfg.BeaconHold, err, tc.want)
		case !tc.ok && (err == nil || !strings.HasPrefix(err.Error(), "POSTBACK_BEACON_HOLD:")):
			t.Errorf("POSTBACK_BEACON_HOLD=%q: err = %v, want one naming the variable", tc.value, err)
		}
	}
}
