package platforms

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrRedirect is returned for a platform answer that redirects elsewhere.
// No platform API Postback calls answers a conversion or token request with
// a redirect; following one would carry Access-Token and developer-token
// headers and, on 307/308, bodies with tokens and OAuth secrets to another
// host.
var ErrRedirect = errors.New("redirect not followed")

// NoRedirect is an http.Client CheckRedirect that follows no redirect: the
// request fails with ErrRedirect, naming the target host only (a URL's
// path or query may carry a token), and nothing is sent to the target.
func NoRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	return fmt.Errorf("%w: HTTP %d to host %s", ErrRedirect, status, req.URL.Host)
}
