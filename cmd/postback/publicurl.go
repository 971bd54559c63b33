package main

import (
	"net"
	"net/url"
)

// defaultPublicURL is the public URL when POSTBACK_PUBLIC_URL is unset:
// the listen address as a browser on this machine reaches it, so a laptop
// run with POSTBACK_ADDR=:9000 shows webhook URLs on :9000, not :8080. A
// wildcard host (":9000", "0.0.0.0:9000", "[::]:9000") becomes localhost.
func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}
	if port == "80" {
		u.Host = host
		if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			u.Host = "[" + host + "]"
		}
	}
	return u.String()
}
