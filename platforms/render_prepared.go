package platforms

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// renderPrepared renders the request Send would make with the events
// prepare found ready, for the senders not yet on the shared send path
// (Google Data Manager, Microsoft offline conversions). With none ready it
// returns the first failure in results, or, for an empty batch, an error
// starting with platform.
func renderPrepared(platform, url string, header map[string]string, results []Result, events []json.RawMessage,
	body func([]json.RawMessage) ([]byte, error)) (Request, error) {
	if len(events) == 0 {
		for _, r := range results {
			if r.Err != nil {
				return Request{}, r.Err
			}
		}
		return Request{}, errors.New(platform + ": no conversions to send")
	}
	b, err := body(events)
	if err != nil {
		return Request{}, fmt.Errorf("%s: encode request: %w", platform, err)
	}
	return Request{Method: http.MethodPost, URL: url, Header: header, Body: b}, nil
}
