package platforms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/postbackhq/postback/mapping"
)

var _ QualityReporter = (*Pinterest)(nil)

// Quality asks Pinterest's Event Quality Score (EQS) endpoint for the ad
// account's web events sent through the Conversions API over the last 14
// days. Source: developers.pinterest.com/docs/track-conversions/get-event-quality-score/
// and the v5 OpenAPI description (conversion_eqs/list, read 2026-12-03):
// GET /v5/ad_accounts/{ad_account_id}/conversion_eqs?lookback_period=1d|14d
// [&source_platform=WEB|MOBILE][&ingestion_source=CONVERSIONS_API|TAG|MMP],
// with an OAuth token that has ads:read; it answers a list of
// EventQualityScore {ingestion_source, lookback_period, overall_status
// (GOOD, FAIR, NEEDS_IMPROVEMENT, …), quality_components (per component —
// hashed_email, ip_address, click_id_epik, external_event_id, … — per
// event name a QualityComponentDetails: coverage percentage, issues, and
// for external_event_id the pixel/API overlap, i.e. deduplication),
// source_platform}.
//
// Pinterest gives a status, not a number: the verdict's Score stays nil
// and Details is the entry as Pinterest sent it. A conversion access token
// that lacks ads:read is refused (ErrAuth), with Pinterest's message.
func (p *Pinterest) Quality(ctx context.Context, d Destination) (mapping.PlatformQuality, error) {
	account, err := credential(d, "ad_account_id")
	if err != nil {
		return mapping.PlatformQuality{}, err
	}
	token, err := credential(d, "access_token")
	if err != nil {
		return mapping.PlatformQuality{}, err
	}
	q := url.Values{"lookback_period": {"14d"}, "source_platform": {"WEB"}}
	u := p.cfg.BaseURL + "/v5/ad_accounts/" + url.PathEscape(account) + "/conversion_eqs?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return mapping.PlatformQuality{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return mapping.PlatformQuality{}, fmt.Errorf("%w: pinterest event quality: %v", ErrTransient, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return mapping.PlatformQuality{}, fmt.Errorf("%w: pinterest event quality: %v", ErrTransient, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e) // the status alone is enough when the body is not Pinterest's
		kind := ErrTransient
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound {
			kind = ErrAuth
		}
		return mapping.PlatformQuality{}, fmt.Errorf("%w: pinterest event quality: http %d: %s", kind, resp.StatusCode, truncateText(e.Message, 200))
	}
	var entries []map[string]any
	if err := json.Unmarshal(body, &entries); err != nil {
		// Pinterest's list answers elsewhere wrap the list in items.
		var wrapped struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(body, &wrapped); err != nil {
			return mapping.PlatformQuality{}, fmt.Errorf("%w: pinterest event quality: unreadable answer", ErrTransient)
		}
		entries = wrapped.Items
	}
	out := mapping.PlatformQuality{CheckedAt: p.cfg.now().UTC(), Details: map[string]any{}}
	var entry map[string]any
	for _, e := range entries {
		if e["ingestion_source"] == "CONVERSIONS_API" {
			entry = e
			break
		}
	}
	if entry == nil && len(entries) > 0 {
		entry = entries[0]
	}
	if entry != nil {
		out.Details = entry
	}
	return out, nil
}
