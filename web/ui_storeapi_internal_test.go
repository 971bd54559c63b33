package web

import (
	"testing"
	"time"
)

func TestReconcileSchedule(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		want  string
	}{
		{15 * time.Minute, "every 15 minutes"},
		{time.Hour, "every hour"},
		{6 * time.Hour, "every 6 hours"},
		{90 * time.Second, "every 1m30s"},
		{0, "only when you run it (POSTBACK_RECONCILE_INTERVAL is 0)"},
	} {
		if got := reconcileSchedule(tc.every); got != tc.want {
			t.Errorf("reconcileSchedule(%v) = %q, want %q", tc.every, got, tc.want)
		}
	}
}
