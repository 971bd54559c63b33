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

func TestLinkEvents(t *testing.T) {
	for in, want := range map[string]string{
		"refund linked to event 42; adjustment queued for Meta": `refund linked to <a href="/admin/events/42">event 42</a>; adjustment queued for Meta`,
		"refund of this order, received with it":                "refund of this order, received with it",
		`<b>event 7</b> & "x"`:                                   `&lt;b&gt;<a href="/admin/events/7">event 7</a>&lt;/b&gt; &amp; &#34;x&#34;`,
		"prevent 9 events":                                       "prevent 9 events",
	} {
		if got := string(linkEvents(in)); got != want {
			t.Errorf("linkEvents(%q) = %q, want %q", in, got, want)
		}
	}
}
