package main

import "testing"

func TestDefaultPublicURL(t *testing.T) {
	tests := []struct{ addr, want string }{
		{":8080", "http://localhost:8080"},
		{":9000", "http://localhost:9000"},
		{"0.0.0.0:9000", "http://localhost:9000"},
		{"[::]:9000", "http://localhost:9000"},
		{"127.0.0.1:7000", "http://127.0.0.1:7000"},
		{"[::1]:7000", "http://[::1]:7000"},
		{"postback.lan:80", "http://postback.lan"},
		{"[::1]:80", "http://[::1]"},
		{"nonsense", "http://localhost:8080"},
	}
	for _, tt := range tests {
		if got := defaultPublicURL(tt.addr); got != tt.want {
			t.Errorf("defaultPublicURL(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
