package mapping

import "time"

// PlatformQuality is an ad platform's own verdict on how well it matches
// a destination's events (Meta's Event Match Quality), as last asked.
type PlatformQuality struct {
	// Score is the platform's score on its own scale (Meta: 0–10), nil
	// when it reported none.
	Score     *float64  `json:"score"`
	CheckedAt time.Time `json:"checked_at"`
	// Details is what the platform reported, as it reported it (Meta: the
	// Purchase entry's event_match_quality, event_coverage,
	// dedup_key_feedback and data_freshness).
	Details map[string]any `json:"details"`
}
