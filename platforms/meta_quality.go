package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/postbackhq/postback/mapping"
)

// QualityReporter is a platform that reports its own verdict on a
// destination's match quality.
type QualityReporter interface {
	Quality(ctx context.Context, d Destination) (mapping.PlatformQuality, error)
}

var _ QualityReporter = (*Meta)(nil)

// metaQualityFields are the Dataset Quality API's web metrics Postback
// shows. Source: developers.facebook.com/docs/marketing-api/conversions-api/dataset-quality-api
// (read 2026-12-03): GET /{version}/dataset_quality?dataset_id=<pixel
// id>&fields=web{…} with the dataset's access token; web is a list of
// per-event entries with event_name, event_match_quality
// {composite_score, match_key_feedback}, event_coverage,
// dedup_key_feedback and data_freshness.
const metaQualityFields = "web{event_name,event_match_quality,event_coverage,dedup_key_feedback,data_freshness}"

// Quality asks Meta's Dataset Quality API for the pixel's Purchase
// entry (or the first entry when there is no Purchase). The token goes in
// the Authorization header, never the URL. It wraps ErrAuth when Meta
// refuses the token and ErrTransient for other failures.
func (m *Meta) Quality(ctx context.Context, d Destination) (mapping.PlatformQuality, error) {
	md, err := m.dest(d)
	if err != nil {
		return mapping.PlatformQuality{}, err
	}
	version := strings.TrimSpace(d.Settings["api_version"])
	if version == "" {
		version = metaVersion
	}
	q := url.Values{"dataset_id": {strings.TrimSpace(d.Credentials["pixel_id"])}, "fields": {metaQualityFields}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.cfg.BaseURL+"/"+version+"/dataset_quality?"+q.Encode(), nil)
	if err != nil {
		return mapping.PlatformQuality{}, err
	}
	req.Header.Set("Authorization", "Bearer "+md.token)
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return mapping.PlatformQuality{}, fmt.Errorf("%w: meta dataset quality: %v", ErrTransient, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return mapping.PlatformQuality{}, fmt.Errorf("%w: meta dataset quality: %v", ErrTransient, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e) // the status alone is enough when the body is not Meta's
		kind := ErrTransient
		if resp.StatusCode == http.StatusUnauthorized || e.Error.Code == 190 || e.Error.Code == 10 || e.Error.Code == 200 {
			kind = ErrAuth
		}
		return mapping.PlatformQuality{}, fmt.Errorf("%w: meta dataset quality: http %d: %s", kind, resp.StatusCode, truncateText(e.Error.Message, 200))
	}
	var ans struct {
		Web []map[string]any `json:"web"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return mapping.PlatformQuality{}, fmt.Errorf("%w: meta dataset quality: unreadable answer", ErrTransient)
	}
	out := mapping.PlatformQuality{CheckedAt: m.cfg.now().UTC(), Details: map[string]any{}}
	var entry map[string]any
	for _, e := range ans.Web {
		if e["event_name"] == mapping.EventPurchase {
			entry = e
			break
		}
	}
	if entry == nil && len(ans.Web) > 0 {
		entry = ans.Web[0]
	}
	if entry == nil {
		return out, nil
	}
	out.Details = entry
	if emq, ok := entry["event_match_quality"].(map[string]any); ok {
		if s, ok := emq["composite_score"].(float64); ok {
			out.Score = &s
		}
	}
	return out, nil
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
