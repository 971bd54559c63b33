package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := parseConfig(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || cfg.DatabaseURL != "postback.db" || cfg.PublicURL != "http://localhost:8080" ||
		cfg.PlatformURLs["meta"] != "https://graph.facebook.com" || cfg.Retention != 90*24*time.Hour || cfg.RetryBackoff != 30*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = parseConfig([]string{"--addr", "127.0.0.1:9000", "-postback-public-url", "https://p.example.com/"},
		env("POSTBACK_ADDR", ":7000", "POSTBACK_META_URL", "http://127.0.0.1:1234/"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.PublicURL != "https://p.example.com" || cfg.PlatformURLs["meta"] != "http://127.0.0.1:1234" {
		t.Errorf("flags over environment = %+v", cfg)
	}
	bad := []struct {
		name     string
		env      []string
		variable string
	}{
		{"short key", []string{"POSTBACK_SECRET_KEY", "abc"}, "POSTBACK_SECRET_KEY"},
		{"url without scheme", []string{"POSTBACK_PUBLIC_URL", "postback.example.com"}, "POSTBACK_PUBLIC_URL"},
		{"platform url", []string{"POSTBACK_TIKTOK_URL", "ftp://x"}, "POSTBACK_TIKTOK_URL"},
		{"postgres without key", []string{"POSTBACK_DATABASE_URL", "postgres://u@h/db"}, "POSTBACK_SECRET_KEY"},
		{"log level", []string{"POSTBACK_LOG_LEVEL", "loud"}, "POSTBACK_LOG_LEVEL"},
		{"retention", []string{"POSTBACK_RETENTION", "forever"}, "POSTBACK_RETENTION"},
		{"backoff", []string{"POSTBACK_RETRY_BACKOFF", "-1s"}, "POSTBACK_RETRY_BACKOFF"},
		{"send timeout platform", []string{"POSTBACK_SEND_TIMEOUTS", "myspace=3s"}, "POSTBACK_SEND_TIMEOUTS"},
		{"send timeout duration", []string{"POSTBACK_SEND_TIMEOUTS", "meta=0s"}, "POSTBACK_SEND_TIMEOUTS"},
		{"empty addr", []string{"POSTBACK_ADDR", " "}, "POSTBACK_ADDR"},
		{"proxy", []string{"POSTBACK_TRUSTED_PROXIES", "10.0.0.0/8, example.com"}, "POSTBACK_TRUSTED_PROXIES"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(nil, env(tt.env...), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), tt.variable+":") || strings.Contains(err.Error(), "\n") {
				t.Errorf("env %v: err = %v, want one line starting with %s", tt.env, err, tt.variable)
			}
		})
	}
	key := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if _, err := parseConfig(nil, env("POSTBACK_SECRET_KEY", key, "POSTBACK_DATABASE_URL", "postgres://u@h/db"), io.Discard); err != nil {
		t.Errorf("hex key with postgres: %v", err)
	}
}
